/* krt_compare: the `krt compare` command (tools/krt_compare.c), called from tools/krt.c's
 * dispatch. */
#ifndef KRT_TOOLS_KRT_COMPARE_H
#define KRT_TOOLS_KRT_COMPARE_H

/* argv holds the arguments after "compare". Returns the process exit status: 0 when the model's
 * final outputs agree within tolerance, 1 when one of them does not, 2 for a command line that
 * cannot be understood or a model, engine or reference that cannot be built, run or read (one
 * line "krt: <reason>" on stderr). */
int krt_cmd_compare(int argc, char **argv);

#endif
