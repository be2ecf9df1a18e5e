/* text.c — labels in a real TrueType font through SDL2_ttf (DejaVu Sans from the Debian package
 * fonts-dejavu-core, or the file named by $SHORTCUT_FONT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "view.h"

#define FONT_PT 14
#define SMALL_PT 11

static const char *const FONT_PATHS[] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",   /* Debian, Ubuntu */
    "/usr/share/fonts/TTF/DejaVuSans.ttf",               /* Arch */
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",            /* Fedora */
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", /* Fedora, newer */
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
};

static const char *find_font(void) {
    const char *env = getenv("SHORTCUT_FONT");
    if (env && *env) return env;
    for (size_t i = 0; i < sizeof FONT_PATHS / sizeof *FONT_PATHS; i++)
        if (access(FONT_PATHS[i], R_OK) == 0) return FONT_PATHS[i];
    return NULL;
}

Status text_open(Draw *d) {
    const char *path = find_font();
    if (!path)
        return status_fail(ST_ERR_IO, "viewer: no font found (looked for DejaVuSans.ttf in "
                                      "/usr/share/fonts); install fonts-dejavu-core or set "
                                      "SHORTCUT_FONT=/path/to/font.ttf");
    if (TTF_Init() != 0) return status_fail(ST_ERR_DEVICE, "viewer: TTF_Init: %s", TTF_GetError());
    d->ttf_inited = 1;
    d->font = TTF_OpenFont(path, FONT_PT);
    d->small = d->font ? TTF_OpenFont(path, SMALL_PT) : NULL;
    if (!d->font || !d->small) {
        Status st = status_fail(ST_ERR_IO, "viewer: %s: cannot open font: %s (set SHORTCUT_FONT "
                                "to a .ttf file)", path, TTF_GetError());
        text_close(d);
        return st;
    }
    d->line_h = TTF_FontLineSkip(d->font);
    d->small_h = TTF_FontLineSkip(d->small);
    return ST_OK;
}

void text_close(Draw *d) {
    if (!d) return;
    if (d->font) TTF_CloseFont(d->font);
    if (d->small) TTF_CloseFont(d->small);
    d->font = d->small = NULL;
    if (d->ttf_inited) TTF_Quit();
    d->ttf_inited = 0;
}

int text_width(TTF_Font *f, const char *s) {
    int w = 0, h = 0;
    if (!f || !s || !*s || TTF_SizeUTF8(f, s, &w, &h) != 0) return 0;
    return w;
}

/* The longest prefix of s (whole UTF-8 characters) that fits in max_w with "…" after it. */
static void ellipsize(TTF_Font *f, const char *s, int max_w, char *out, size_t n) {
    size_t len = strlen(s);
    if (len >= n) len = n - 4;
    while (len > 0) {
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80) len--;
        snprintf(out, n, "%.*s\xe2\x80\xa6", (int)len, s);
        if (text_width(f, out) <= max_w) return;
        len--;
    }
    snprintf(out, n, "\xe2\x80\xa6");
}

int text_draw(Draw *d, TTF_Font *f, int x, int y, SDL_Color c, int max_w, const char *s) {
    if (!f || !s || !*s) return 0;
    char buf[512];
    if (max_w > 0 && text_width(f, s) > max_w) {
        ellipsize(f, s, max_w, buf, sizeof buf);
        s = buf;
        if (text_width(f, s) > max_w) return 0;
    }
    SDL_Surface *surf = TTF_RenderUTF8_Blended(f, s, c);
    if (!surf) return 0;
    SDL_Texture *tex = SDL_CreateTextureFromSurface(d->ren, surf);
    int w = surf->w;
    if (tex) {
        SDL_Rect dst = {x, y, surf->w, surf->h};
        SDL_RenderCopy(d->ren, tex, NULL, &dst);
        SDL_DestroyTexture(tex);
    }
    SDL_FreeSurface(surf);
    return w;
}
