/* Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, and Keras 1's
 * Merge (mode sum/mul/ave/max/concat).
 *
 * Elementwise merges (keras/src/layers/merging/base_merge.py): inputs of equal rank combine with
 * numpy broadcasting, folded left to right; inputs of lower rank are first expanded at axis 1
 * until all ranks agree. Average is the sum divided by the count. */
#include <stdio.h>
#include <string.h>

#include "import/keras_config.h"

/* x with (target - rank) axes of size 1 inserted after the batch (Keras's expand_dims(x, 1)). */
static krt_status *expand_to_rank(const keras_layer_ctx *ctx, int x, int target, int index, int *out) {
  const ir_value *v = kl_value(ctx, x);
  if (v->rank == target) {
    *out = x;
    return NULL;
  }
  if (!v->batched)
    return kl_unsupported(ctx, "merging an unbatched input of lower rank is not supported");
  ir_attrs a = kl_attrs();
  a.shape_rank = target - 1;
  int extra = target - v->rank;
  for (int i = 0; i < extra; i++) a.shape[i] = 1;
  for (int i = 1; i < v->rank; i++) {
    if (v->dims[i] < 0)
      return kl_unsupported(ctx, "merging inputs of different ranks needs known dimensions");
    a.shape[extra + i - 1] = v->dims[i];
  }
  char part[32];
  snprintf(part, sizeof part, "expand_%d", index);
  return kl_emit(ctx, IR_OP_RESHAPE, part, &x, 1, &a, out);
}

static krt_status *concat(const keras_layer_ctx *ctx, int axis_raw, int *out) {
  int rank = kl_value(ctx, ctx->inputs[0])->rank;
  for (int i = 1; i < ctx->n_inputs; i++)
    if (kl_value(ctx, ctx->inputs[i])->rank != rank)
      return kl_bad_file(ctx, "inputs of different ranks cannot be concatenated");
  ir_attrs a = kl_attrs();
  KRT_TRY(kl_axis(ctx, axis_raw, rank, &a.axis));
  if (a.axis == 0 && kl_value(ctx, ctx->inputs[0])->batched)
    return kl_unsupported(ctx, "concatenating along the batch axis is not supported");
  if (ctx->n_inputs == 1) {
    *out = ctx->inputs[0];
    return NULL;
  }
  return kl_emit(ctx, IR_OP_CONCAT, NULL, ctx->inputs, ctx->n_inputs, &a, out);
}

static krt_status *elementwise(const keras_layer_ctx *ctx, int kind, int *out) {
  if (kind == KL_MERGE_SUB) KRT_TRY(kl_expect_inputs(ctx, 2, 2));
  int n = ctx->n_inputs, max_rank = 0;
  for (int i = 0; i < n; i++) {
    int r = kl_value(ctx, ctx->inputs[i])->rank;
    if (r > max_rank) max_rank = r;
  }
  ir_binary_kind op = IR_BINARY_ADD;
  switch (kind) {
    case KL_MERGE_SUB: op = IR_BINARY_SUB; break;
    case KL_MERGE_MUL: op = IR_BINARY_MUL; break;
    case KL_MERGE_MAX: op = IR_BINARY_MAX; break;
    case KL_MERGE_MIN: op = IR_BINARY_MIN; break;
    default: op = IR_BINARY_ADD; break;
  }
  int acc;
  KRT_TRY(expand_to_rank(ctx, ctx->inputs[0], max_rank, 0, &acc));
  ir_attrs a = kl_attrs();
  a.binary = op;
  for (int i = 1; i < n; i++) {
    int b;
    KRT_TRY(expand_to_rank(ctx, ctx->inputs[i], max_rank, i, &b));
    int ins[2] = {acc, b};
    /* The last node carries the layer's name; earlier partial results are "layer/partial_i". */
    char part[32];
    snprintf(part, sizeof part, "partial_%d", i);
    int last = i == n - 1 && kind != KL_MERGE_AVG;
    KRT_TRY(kl_emit(ctx, IR_OP_BINARY, last ? NULL : part, ins, 2, &a, &acc));
  }
  if (kind == KL_MERGE_AVG && n > 1) {
    int c;
    KRT_TRY(kl_const_fill(ctx, "count", 1, (float)n, &c));
    int ins[2] = {acc, c};
    a.binary = IR_BINARY_DIV;
    KRT_TRY(kl_emit(ctx, IR_OP_BINARY, NULL, ins, 2, &a, &acc));
  }
  *out = acc;
  return NULL;
}

krt_status *kl_convert_merge(const keras_layer_ctx *ctx, int variant, int *out) {
  KRT_TRY(kl_expect_inputs(ctx, 1, 1 << 20));
  if (variant == KL_MERGE_CONCAT) {
    int axis;
    KRT_TRY(kc_int(ctx, NULL, "axis", -1, &axis));
    return concat(ctx, axis, out);
  }
  if (variant != KL_MERGE_KERAS1) return elementwise(ctx, variant, out);
  /* Keras 1 Merge: {"mode": "sum", "concat_axis": -1, ...}; mode may also be a lambda. */
  const cJSON *mode = kc_get(ctx, NULL, "mode");
  if (!mode || !cJSON_IsString(mode)) return kl_unsupported(ctx, "a Merge with a custom mode is not supported");
  const char *m = mode->valuestring;
  if (strcmp(m, "concat") == 0) {
    int axis;
    KRT_TRY(kc_int(ctx, NULL, "concat_axis", -1, &axis));
    return concat(ctx, axis, out);
  }
  if (ctx->n_inputs < 2) return kl_bad_file(ctx, "a Merge takes at least 2 inputs");
  if (strcmp(m, "sum") == 0) return elementwise(ctx, KL_MERGE_ADD, out);
  if (strcmp(m, "mul") == 0) return elementwise(ctx, KL_MERGE_MUL, out);
  if (strcmp(m, "ave") == 0) return elementwise(ctx, KL_MERGE_AVG, out);
  if (strcmp(m, "max") == 0) return elementwise(ctx, KL_MERGE_MAX, out);
  return kl_unsupported(ctx, "option mode='%s' is not supported", m);
}
