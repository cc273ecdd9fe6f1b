/* The backend interface: what the engine and context code need from a device.
 *
 * A backend runs a whole planned graph. The engine calls engine_prepare once (weights to the
 * device, per-device choices), and each context gets its own state with one activation arena laid
 * out by the krt_plan. Values are float32 in the backend; the context converts the caller's
 * dtypes at the boundary. Every function returns NULL or an error status; none aborts.
 */
#ifndef KRT_BACKEND_BACKEND_H
#define KRT_BACKEND_BACKEND_H

#include "ir/graph.h"
#include "plan/plan.h"

typedef struct krt_backend {
  const char *name;  /* "cpu", "cuda" */
  krt_device device;

  /* NULL when this backend can run node n of g; else KRT_ERR_UNSUPPORTED naming the node and why. */
  krt_status *(*check_node)(const ir_graph *g, const ir_node *n);

  /* Per engine. g and plan must outlive the state. */
  krt_status *(*engine_prepare)(const ir_graph *g, const krt_plan *plan, void **engine_state);
  void (*engine_release)(void *engine_state);

  /* Per context: allocates the arena (plan->arena_bytes). */
  krt_status *(*context_create)(void *engine_state, void **context_state);
  void (*context_release)(void *context_state);

  /* Copies `count` float32 values between the host and value `value`'s slot in the arena. */
  krt_status *(*write_value)(void *context_state, int value, const float *host, int64_t count);
  krt_status *(*read_value)(void *context_state, int value, float *host, int64_t count);

  /* Runs every node in order at this batch (1..max_batch), inputs already written. */
  krt_status *(*run)(void *context_state, int64_t batch);
} krt_backend;

/* The portable float32 reference backend (src/backend/cpu). */
const krt_backend *krt_backend_cpu(void);

/* The backend for a device, or KRT_ERR_DEVICE when it is not built in or not usable here. */
krt_status *krt_backend_for_device(krt_device device, const krt_backend **out);

#endif
