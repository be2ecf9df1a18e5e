/* main.c — the `shortcut` command: dispatches to the subcommands.
 *
 * `shortcut` alone opens the workbench (ui/) on the built-in quick demo, `shortcut CONFIG.yaml`
 * on a config file; without a terminal they refuse (exit 2) and point to `shortcut train`, the
 * headless path. The workbench and the viewer are optional parts of the build
 * (SHORTCUT_WITH_TUI, SHORTCUT_WITH_VIEWER: GPU machines may lack ncurses/SDL2); this is the one
 * place that tests those macros. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* app/cmd_tui.c: the workbench (the one command that links ui/). */
int cmd_tui(int argc, char **argv);
/* app/cmd_view.c: the SDL viewer on a run directory, and a headless run with the viewer open. */
int cmd_view(int argc, char **argv);
int cmd_view_train(int argc, char **argv);

#ifndef SHORTCUT_VERSION
#define SHORTCUT_VERSION "0.0.0"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "shortcut %s — a workbench for training residual networks on CIFAR-10/100\n"
            "\n"
            "usage: shortcut [CONFIG.yaml] [--set key=value]...   the workbench (default: quick demo)\n"
            "       shortcut --resume DIR                         the workbench on a saved run\n"
            "       shortcut train [CONFIG.yaml] [--set k=v]... [--out DIR] | --resume DIR\n"
            "       shortcut eval RUN_DIR [--predictions FILE.csv]\n"
            "       shortcut info CONFIG.yaml [--set k=v]...      model summary\n"
            "       shortcut bench CONFIG.yaml [--batch N] [--threads N]\n"
            "       shortcut view RUN_DIR [--png DIR]             the image viewer on a run\n"
            "       shortcut --viewer [CONFIG.yaml] [--set k=v]... train headless, viewer open\n"
            "       shortcut --help | --version\n"
            "\n"
            "Each command has its own --help. Data is found via data.root, $SHORTCUT_DATA,\n"
            "./data, then ../shared/data; scripts/fetch-cifar.sh downloads CIFAR.\n",
            SHORTCUT_VERSION);
}

static int run_tui(int argc, char **argv) {
#ifdef SHORTCUT_WITH_TUI
    return cmd_tui(argc, argv);
#else
    (void)argc;
    (void)argv;
    fprintf(stderr, "shortcut: this build has no workbench (configured with "
                    "-DSHORTCUT_WITH_TUI=OFF); train headless with: shortcut train\n");
    return 2;
#endif
}

static int run_view(int with_training, int argc, char **argv) {
#ifdef SHORTCUT_WITH_VIEWER
    return with_training ? cmd_view_train(argc, argv) : cmd_view(argc, argv);
#else
    (void)with_training;
    (void)argc;
    (void)argv;
    fprintf(stderr, "shortcut: this build has no image viewer (configured with "
                    "-DSHORTCUT_WITH_VIEWER=OFF or without SDL2)\n");
    return 2;
#endif
}

int main(int argc, char **argv) {
    cli_prefer_passive_wait(argv);
    if (argc >= 2) {
        const char *c = argv[1];
        if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) { usage(stdout); return 0; }
        if (!strcmp(c, "--version") || !strcmp(c, "-V")) {
            printf("shortcut %s\n", SHORTCUT_VERSION);
            return 0;
        }
        if (!strcmp(c, "train")) return cmd_train(argc - 2, argv + 2);
        if (!strcmp(c, "tui")) return run_tui(argc - 2, argv + 2);
        if (!strcmp(c, "view")) return run_view(0, argc - 2, argv + 2);
        if (!strcmp(c, "--viewer")) return run_view(1, argc - 2, argv + 2);
        if (!strcmp(c, "eval")) return cmd_eval(argc - 2, argv + 2);
        if (!strcmp(c, "info")) return cmd_info(argc - 2, argv + 2);
        if (!strcmp(c, "bench")) return cmd_bench(argc - 2, argv + 2);
        if (c[0] != '-' && !strstr(c, ".yaml") && !strstr(c, ".yml")) {
            fprintf(stderr, "shortcut: unknown command '%s' (commands: tui, train, eval, info, "
                            "bench; or give a CONFIG.yaml); see shortcut --help\n", c);
            return 2;
        }
    }
    return run_tui(argc - 1, argv + 1);
}
