"""cc_grpc_proto: C++ protobuf and gRPC code from a .proto, with the system protoc."""

def cc_grpc_proto(name, src, deps = []):
    """Generates src's .pb.{h,cc} and .grpc.pb.{h,cc} and wraps them in two cc_libraries.

    `name` holds the messages only (linking protobuf, no gRPC); `name_grpc` adds the service
    stubs. Protos import each other by workspace path ("proto/ferry/v1/ferry.proto"), and
    generated headers are included the same way ("proto/ferry/v1/ferry.pb.h").

    Args:
      name: the messages' cc_library; the service stubs are name + "_grpc".
      src: one .proto file, relative to this package.
      deps: the message libraries of the protos that src imports.
    """
    base = src[:-len(".proto")]
    messages = [base + ".pb.h", base + ".pb.cc"]
    services = [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = messages + services,
        cmd = ("protoc -I. --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
               "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin $(location %s)" % src),
    )
    native.cc_library(
        name = name,
        srcs = [messages[1]],
        hdrs = [messages[0]],
        deps = deps,
        linkopts = ["-lprotobuf"],
        visibility = ["//visibility:public"],
    )
    native.cc_library(
        name = name + "_grpc",
        srcs = [services[1]],
        hdrs = [services[0]],
        deps = [name],
        linkopts = ["-lgrpc++", "-lgrpc", "-lgpr"],
        visibility = ["//visibility:public"],
    )
