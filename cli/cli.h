/* cli.h: the triton-metal command's subcommands, one file each (main.c dispatches). */
#ifndef TM_CLI_H
#define TM_CLI_H

/* triton-metal check [--json] [--no-run] [--no-python]: argv after "check". */
int cmd_check(int argc, char **argv);

#endif
