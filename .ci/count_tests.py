"""Prints 'N passed, N failed, N skipped' over every test case in Bazel's test.xml files."""

import pathlib
import sys
import xml.etree.ElementTree as ElementTree


def main(testlogs: str) -> int:
    passed = failed = skipped = 0
    for xml_path in pathlib.Path(testlogs).rglob("test.xml"):
        try:
            root = ElementTree.parse(xml_path).getroot()
        except ElementTree.ParseError:
            failed += 1  # a test binary that died before writing its report
            continue
        cases = list(root.iter("testcase"))
        if not cases:  # a non-gtest target: Bazel's own report of the whole target
            cases = [root]
        for case in cases:
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None or case.get("result") == "skipped":
                skipped += 1
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
