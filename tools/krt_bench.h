/* krt_bench: the `krt bench` command (tools/krt_bench.c), called from tools/krt.c's dispatch. */
#ifndef KRT_TOOLS_KRT_BENCH_H
#define KRT_TOOLS_KRT_BENCH_H

/* argv holds the arguments after "bench". Returns the process exit status: 0 success, 1 a failed
 * benchmark (one line "krt: <reason>" on stderr), 2 a command line that cannot be understood. */
int krt_cmd_bench(int argc, char **argv);

#endif
