"""Turns a kernels/cuda/*.cu file into host C++ for the CUDA emulator (see device.h).

Usage: translate.py IN.cu OUT.cc
Each launch `kernel<targs><<<config>>>(args)` becomes
`::ferry::cuda_emulator::Launch(config).Of([](auto... p) { kernel<targs>(p...); })(args)`
(a lambda, so that a kernel template deduces its arguments as at a launch); the rest is
unchanged.
"""
import sys


def kernel_start(text, end):
    """Where the kernel expression that ends before `end` starts (a name, template args)."""
    i = end
    while text[i - 1].isspace():
        i -= 1
    if text[i - 1] == ">":
        depth = 0
        while True:
            i -= 1
            if text[i] == ">":
                depth += 1
            elif text[i] == "<":
                depth -= 1
                if depth == 0:
                    break
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_:"):
        i -= 1
    return i


def translate(text):
    out, pos = [], 0
    while True:
        open_at = text.find("<<<", pos)
        if open_at < 0:
            out.append(text[pos:])
            return "".join(out)
        close_at = text.index(">>>", open_at)
        start = kernel_start(text, open_at)
        kernel = text[start:open_at].strip()
        config = text[open_at + 3:close_at]
        out.append(text[pos:start])
        out.append("::ferry::cuda_emulator::Launch(%s).Of([](auto... p) { %s(p...); })" %
                   (config, kernel))
        pos = close_at + 3


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    with open(sys.argv[2], "w") as f:
        f.write('#include "kernels/cuda/emulator/device.h"  // first: CUDA qualifiers\n')
        f.write("#line 1 \"%s\"\n" % sys.argv[1])
        f.write(translate(text))


if __name__ == "__main__":
    main()
