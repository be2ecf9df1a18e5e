/* main.c — the `shortcut` command: dispatches to the subcommands.
 *
 * `shortcut` alone trains the built-in quick demo (the workbench screen takes this entry point
 * over once it exists); `shortcut CONFIG.yaml` does the same for a config file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef SHORTCUT_VERSION
#define SHORTCUT_VERSION "0.0.0"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "shortcut %s — a workbench for training residual networks on CIFAR-10/100\n"
            "\n"
            "usage: shortcut [CONFIG.yaml] [--set key=value]...   train (default: quick demo)\n"
            "       shortcut train [CONFIG.yaml] [--set k=v]... [--out DIR] | --resume DIR\n"
            "       shortcut eval RUN_DIR [--predictions FILE.csv]\n"
            "       shortcut info CONFIG.yaml [--set k=v]...      model summary\n"
            "       shortcut bench CONFIG.yaml [--batch N] [--threads N]\n"
            "       shortcut --help | --version\n"
            "\n"
            "Each command has its own --help. Data is found via data.root, $SHORTCUT_DATA,\n"
            "./data, then ../shared/data; scripts/fetch-cifar.sh downloads CIFAR.\n",
            SHORTCUT_VERSION);
}

int main(int argc, char **argv) {
    if (argc >= 2) {
        const char *c = argv[1];
        if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) { usage(stdout); return 0; }
        if (!strcmp(c, "--version") || !strcmp(c, "-V")) {
            printf("shortcut %s\n", SHORTCUT_VERSION);
            return 0;
        }
        if (!strcmp(c, "train")) return cmd_train(argc - 2, argv + 2);
        if (!strcmp(c, "eval")) return cmd_eval(argc - 2, argv + 2);
        if (!strcmp(c, "info")) return cmd_info(argc - 2, argv + 2);
        if (!strcmp(c, "bench")) return cmd_bench(argc - 2, argv + 2);
        if (c[0] != '-' && !strstr(c, ".yaml") && !strstr(c, ".yml")) {
            fprintf(stderr, "shortcut: unknown command '%s' (commands: train, eval, info, bench; "
                            "or give a CONFIG.yaml); see shortcut --help\n", c);
            return 2;
        }
    }
    return cmd_train(argc - 1, argv + 1);
}
