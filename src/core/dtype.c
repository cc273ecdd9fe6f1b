#include "krt.h"

size_t krt_dtype_size(krt_dtype dtype) {
  switch (dtype) {
    case KRT_FLOAT32: return 4;
    case KRT_FLOAT16: return 2;
    case KRT_FLOAT64: return 8;
    case KRT_INT32: return 4;
    case KRT_INT64: return 8;
    case KRT_UINT8: return 1;
    default: return 0;
  }
}

const char *krt_dtype_name(krt_dtype dtype) {
  switch (dtype) {
    case KRT_FLOAT32: return "float32";
    case KRT_FLOAT16: return "float16";
    case KRT_FLOAT64: return "float64";
    case KRT_INT32: return "int32";
    case KRT_INT64: return "int64";
    case KRT_UINT8: return "uint8";
    default: return "invalid";
  }
}

int64_t krt_view_element_count(const krt_tensor_view *view) {
  if (!view) return 0;
  int64_t n = 1;
  for (int i = 0; i < view->rank; i++) n *= view->dims[i];
  return n;
}
