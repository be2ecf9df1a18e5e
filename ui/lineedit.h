/* lineedit.h — a one-line text editor (field edits, prompts): pure, no terminal.
 *
 * Holds UTF-8 text and a cursor counted in characters. lineedit_key() takes an ncurses key code
 * and says whether it was used; Enter and Esc are left to the caller. */
#ifndef SHORTCUT_UI_LINEEDIT_H
#define SHORTCUT_UI_LINEEDIT_H

#define LINEEDIT_MAX 512

typedef struct LineEdit {
    char buf[LINEEDIT_MAX];
    int cursor;          /* byte offset, always at a character boundary */
    int select_all;      /* the first typed character replaces the whole text */
} LineEdit;

void lineedit_set(LineEdit *e, const char *text);
/* 1 when the key was an editing key (and applied), 0 otherwise. */
int lineedit_key(LineEdit *e, int key);
/* The cursor's position in characters (for drawing). */
int lineedit_cursor_cells(const LineEdit *e);

#endif
