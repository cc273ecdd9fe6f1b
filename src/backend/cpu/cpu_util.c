#include "backend/cpu/cpu_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

krt_status *cpu_node_error(const ir_node *n, krt_code code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return krt_error(code, "node '%s' (%s): %s", n->name ? n->name : "?", ir_op_name(n->op), message);
}

int64_t cpu_count(const cpu_tensor *t) {
  int64_t count = 1;
  for (int i = 0; i < t->rank; i++) count *= t->dims[i];
  return count;
}

void cpu_strides(const cpu_tensor *t, int64_t strides[KRT_MAX_RANK]) {
  int64_t stride = 1;
  for (int i = t->rank - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= t->dims[i];
  }
}

int cpu_broadcast_strides(const cpu_tensor *in, const cpu_tensor *y,
                          int64_t strides[KRT_MAX_RANK]) {
  if (in->rank > y->rank) return 0;
  int64_t own[KRT_MAX_RANK];
  cpu_strides(in, own);
  int shift = y->rank - in->rank; /* y axis i reads in axis i - shift */
  for (int i = 0; i < y->rank; i++) {
    if (i < shift) {
      strides[i] = 0;
      continue;
    }
    int64_t d = in->dims[i - shift];
    if (d == y->dims[i])
      strides[i] = d == 1 ? 0 : own[i - shift];
    else if (d == 1)
      strides[i] = 0;
    else
      return 0;
  }
  return 1;
}

krt_status *cpu_window_init(const ir_node *n, const cpu_tensor *x, const cpu_tensor *y,
                            int use_dilation, cpu_window *w) {
  const ir_attrs *a = &n->attrs;
  int sp = a->spatial;
  if (sp < 1 || sp > IR_MAX_SPATIAL)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "spatial=%d is outside 1..%d", sp, IR_MAX_SPATIAL);
  if (x->rank != sp + 2 || y->rank != sp + 2)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "input rank %d and output rank %d, expected %d",
                          x->rank, y->rank, sp + 2);
  if (x->dims[0] != y->dims[0])
    return cpu_node_error(n, KRT_ERR_INTERNAL, "input batch %lld but output batch %lld",
                          (long long)x->dims[0], (long long)y->dims[0]);
  w->batch = x->dims[0];
  w->in_channels = x->dims[sp + 1];
  w->out_channels = y->dims[sp + 1];
  int lead = 3 - sp; /* unused leading axes */
  for (int i = 0; i < 3; i++) {
    int s = i - lead; /* the node's spatial axis, or < 0 */
    w->in[i] = s < 0 ? 1 : x->dims[1 + s];
    w->out[i] = s < 0 ? 1 : y->dims[1 + s];
    w->kernel[i] = s < 0 ? 1 : a->kernel[s];
    w->stride[i] = s < 0 ? 1 : a->stride[s];
    /* dilation 0 is an attribute left unset: no dilation. */
    w->dilation[i] = s < 0 || !use_dilation || a->dilation[s] == 0 ? 1 : a->dilation[s];
    w->pad_begin[i] = s < 0 ? 0 : a->pad_begin[s];
    w->pad_end[i] = s < 0 ? 0 : a->pad_end[s];
    if (w->kernel[i] < 1 || w->stride[i] < 1 || w->dilation[i] < 1)
      return cpu_node_error(
          n, KRT_ERR_INTERNAL, "kernel %lld, stride %lld, dilation %lld on spatial axis %d",
          (long long)w->kernel[i], (long long)w->stride[i], (long long)w->dilation[i], s);
  }
  return NULL;
}

krt_status *cpu_axis_split_init(const ir_node *n, const cpu_tensor *x, cpu_axis_split *s) {
  const ir_attrs *a = &n->attrs;
  s->inner_offsets = NULL;
  if (a->n_axes < 1 || a->n_axes > x->rank)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "%d axes for an input of rank %d", a->n_axes,
                          x->rank);
  int reduced[KRT_MAX_RANK] = {0};
  for (int i = 0; i < a->n_axes; i++) {
    int axis = a->axes[i];
    if (axis < 0 || axis >= x->rank || (i > 0 && axis <= a->axes[i - 1]))
      return cpu_node_error(n, KRT_ERR_INTERNAL,
                            "axes must be ascending and within 0..%d (axis %d)", x->rank - 1, axis);
    reduced[axis] = 1;
  }
  int64_t strides[KRT_MAX_RANK];
  cpu_strides(x, strides);
  s->outer_count = 1;
  s->inner_count = 1;
  s->n_kept = 0;
  for (int i = 0; i < x->rank; i++) {
    if (reduced[i]) {
      s->inner_count *= x->dims[i];
    } else {
      s->kept_dims[s->n_kept] = x->dims[i];
      s->kept_strides[s->n_kept] = strides[i];
      s->n_kept++;
      s->outer_count *= x->dims[i];
    }
  }
  s->inner_offsets = malloc((size_t)(s->inner_count > 0 ? s->inner_count : 1) * sizeof(int64_t));
  if (!s->inner_offsets)
    return cpu_node_error(n, KRT_ERR_OUT_OF_MEMORY, "cannot allocate %lld reduction offsets",
                          (long long)s->inner_count);
  /* Odometer over the reduced axes, last axis fastest. */
  int64_t index[KRT_MAX_RANK] = {0};
  for (int64_t r = 0; r < s->inner_count; r++) {
    int64_t offset = 0;
    for (int i = 0; i < a->n_axes; i++) offset += index[i] * strides[a->axes[i]];
    s->inner_offsets[r] = offset;
    for (int i = a->n_axes - 1; i >= 0; i--) {
      if (++index[i] < x->dims[a->axes[i]]) break;
      index[i] = 0;
    }
  }
  return NULL;
}

int64_t cpu_axis_split_base(const cpu_axis_split *s, int64_t outer_index) {
  int64_t offset = 0;
  for (int i = s->n_kept - 1; i >= 0; i--) {
    offset += (outer_index % s->kept_dims[i]) * s->kept_strides[i];
    outer_index /= s->kept_dims[i];
  }
  return offset;
}

void cpu_axis_split_free(cpu_axis_split *s) {
  free(s->inner_offsets);
  s->inner_offsets = NULL;
}

krt_status *cpu_check_inputs(const ir_node *n, int n_in, int lo, int hi) {
  if (n_in < lo || n_in > hi) {
    if (lo == hi) return cpu_node_error(n, KRT_ERR_INTERNAL, "%d inputs, expected %d", n_in, lo);
    return cpu_node_error(n, KRT_ERR_INTERNAL, "%d inputs, expected %d to %d", n_in, lo, hi);
  }
  return NULL;
}

krt_status *cpu_check_count(const ir_node *n, const cpu_tensor *y, int64_t count) {
  int64_t have = cpu_count(y);
  if (have != count)
    return cpu_node_error(n, KRT_ERR_INTERNAL, "output holds %lld elements, expected %lld",
                          (long long)have, (long long)count);
  return NULL;
}
