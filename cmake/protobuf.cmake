# Protocol buffers through protobuf-c. Each .proto file in src/import/proto/ declares, for one
# public format (ONNX, TensorFlow GraphDef, TensorRT UFF), the messages and fields krt reads, with
# that format's own field numbers; fields krt never reads are left out and protobuf-c skips them
# as unknown fields. protoc-c turns each file into <name>.pb-c.c and <name>.pb-c.h in the build
# tree at build time; importers include "<name>.pb-c.h".
find_program(KRT_PROTOC_C protoc-c)
if(NOT KRT_PROTOC_C)
  message(FATAL_ERROR "krt: protoc-c not found (Debian: protobuf-c-compiler; scripts/install-deps.sh)")
endif()
pkg_check_modules(krt_protobuf_c REQUIRED IMPORTED_TARGET libprotobuf-c)

set(KRT_PROTO_DIR ${PROJECT_SOURCE_DIR}/src/import/proto)
set(KRT_PROTO_OUT ${PROJECT_BINARY_DIR}/proto)
file(MAKE_DIRECTORY ${KRT_PROTO_OUT})
file(GLOB KRT_PROTO_FILES CONFIGURE_DEPENDS ${KRT_PROTO_DIR}/*.proto)
set(KRT_PROTO_SOURCES)
foreach(proto ${KRT_PROTO_FILES})
  get_filename_component(stem ${proto} NAME_WE)
  add_custom_command(
    OUTPUT ${KRT_PROTO_OUT}/${stem}.pb-c.c ${KRT_PROTO_OUT}/${stem}.pb-c.h
    COMMAND ${KRT_PROTOC_C} --proto_path=${KRT_PROTO_DIR} --c_out=${KRT_PROTO_OUT} ${proto}
    DEPENDS ${proto}
    COMMENT "protoc-c ${stem}.proto"
    VERBATIM)
  list(APPEND KRT_PROTO_SOURCES ${KRT_PROTO_OUT}/${stem}.pb-c.c)
endforeach()
