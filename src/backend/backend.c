/* Chooses the backend for a device. Only the CPU reference backend is built in for now; the CUDA
 * backend will register here when it is compiled in. */
#include "backend/backend.h"

#include "core/status.h"

krt_status *krt_backend_for_device(krt_device device, const krt_backend **out) {
  switch (device) {
    case KRT_DEVICE_CPU: *out = krt_backend_cpu(); return NULL;
    case KRT_DEVICE_CUDA:
      return krt_error(KRT_ERR_DEVICE, "krt was built without the CUDA backend");
  }
  return krt_error(KRT_ERR_INVALID_ARGUMENT, "unknown device %d", (int)device);
}
