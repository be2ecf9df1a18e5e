/* view_samples.c — view 1: the batch being trained, exactly as the network got it.
 *
 * Each cell shows the augmented image un-normalized ((x * std + mean) * 255), optionally the
 * dataset original beside it, and the label with a ↔ mark for a flipped image. The overlay
 * tints the cutout mask's pixels (CUTOUT_TINT at CUTOUT_ALPHA) on the augmented image and, on
 * the original, frames the crop window and dims what the crop cut away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

#define GAP 8
#define PAIR_GAP 4

typedef struct Layout {
    int disp;       /* displayed side of one image, pixels */
    Grid grid;
} Layout;

static Layout layout(const Draw *d, const ViewData *vd, const ViewUi *ui, int width) {
    Layout l;
    l.disp = vd->sample_side * ui->zoom[VIEWER_SAMPLES];
    int cell_w = ui->show_original ? 2 * l.disp + PAIR_GAP : l.disp;
    l.grid = grid_make(width, cell_w, l.disp + d->line_h + 2, GAP,
                       vd->samples_id ? vd->sample_count : 0);
    return l;
}

int view_samples_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width) {
    Layout l = layout(d, vd, ui, width);
    return grid_height(&l.grid);
}

int view_samples_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int item,
                      int part, SDL_Rect *out) {
    if (!vd->samples_id || item < 0 || item >= vd->sample_count) return 0;
    if (part < 0 || part > 1 || (part == 1 && !ui->show_original)) return 0;
    Layout l = layout(d, vd, ui, width);
    SDL_Rect c = grid_cell(&l.grid, item);
    *out = (SDL_Rect){c.x + part * (l.disp + PAIR_GAP), c.y, l.disp, l.disp};
    return 1;
}

/* Cutout overlay on the augmented image: blend the tint into mask pixels. */
static void tint_mask(uint8_t *rgb, const uint8_t *mask, int side) {
    static const float tint[3] = {CUTOUT_TINT_R, CUTOUT_TINT_G, CUTOUT_TINT_B};
    for (int p = 0; p < side * side; p++) {
        if (!mask[p]) continue;
        for (int c = 0; c < 3; c++) {
            float v = (1.0f - CUTOUT_ALPHA) * rgb[3 * p + c] + CUTOUT_ALPHA * tint[c];
            rgb[3 * p + c] = (uint8_t)(v + 0.5f);
        }
    }
}

/* Crop overlay on the original: halve what lies outside the 32x32 window. */
static void dim_outside(uint8_t *rgb, int x0, int y0) {
    for (int y = 0; y < DATASET_SIDE; y++)
        for (int x = 0; x < DATASET_SIDE; x++) {
            if (x >= x0 && x < x0 + DATASET_SIDE && y >= y0 && y < y0 + DATASET_SIDE) continue;
            uint8_t *p = rgb + 3 * (y * DATASET_SIDE + x);
            p[0] /= 2;
            p[1] /= 2;
            p[2] /= 2;
        }
}

void view_samples_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area) {
    if (!vd->samples_id || vd->sample_count == 0) {
        text_draw(d, d->font, area.x + GAP, area.y + GAP, COL_DIM, 0,
                  "no batch yet: the first training step fills this view");
        return;
    }
    int S = vd->sample_side;
    Layout l = layout(d, vd, ui, area.w);
    int y0 = area.y - ui->scroll[VIEWER_SAMPLES];
    uint8_t *rgb = malloc((size_t)S * S * 3);
    uint8_t orig[DATASET_PIXELS];
    if (!rgb) return;
    for (int i = 0; i < vd->sample_count; i++) {
        SDL_Rect c = grid_cell(&l.grid, i);
        c.x += area.x;
        c.y += y0;
        if (c.y + c.h < area.y || c.y > area.y + area.h) continue;
        const AugmentRecord *rec = &vd->sample_records[i];
        viewdata_sample_rgb(vd, i, rgb);
        if (ui->overlay) tint_mask(rgb, vd->sample_masks + (size_t)i * S * S, S);
        SDL_Rect img = {c.x, c.y, l.disp, l.disp};
        draw_rgb(d, rgb, S, S, img);
        if (ui->show_original) {
            SDL_Rect o = {c.x + l.disp + PAIR_GAP, c.y, l.disp, l.disp};
            viewdata_chw_to_rgb(vd->sample_originals + (size_t)i * DATASET_PIXELS, DATASET_SIDE,
                                orig);
            int pad = vd->augment.crop_pad;
            int wx = rec->crop_x - pad, wy = rec->crop_y - pad;
            if (ui->overlay) dim_outside(orig, wx, wy);
            draw_rgb(d, orig, DATASET_SIDE, DATASET_SIDE, o);
            if (ui->overlay) {
                /* The window in display pixels, clipped to the original's square. */
                double s = (double)l.disp / DATASET_SIDE;
                int x1 = o.x + (int)(wx * s), y1 = o.y + (int)(wy * s);
                int x2 = o.x + (int)((wx + DATASET_SIDE) * s), y2 = o.y + (int)((wy + DATASET_SIDE) * s);
                if (x1 < o.x) x1 = o.x;
                if (y1 < o.y) y1 = o.y;
                if (x2 > o.x + o.w) x2 = o.x + o.w;
                if (y2 > o.y + o.h) y2 = o.y + o.h;
                if (x2 > x1 && y2 > y1) draw_frame(d, (SDL_Rect){x1, y1, x2 - x1, y2 - y1}, COL_CROP, 1);
            }
        }
        char nb[16];
        const char *name = view_class_name(vd, vd->sample_labels[i], 0, nb, sizeof nb);
        int mark_w = rec->flipped ? text_width(d->font, "\xe2\x86\x94") + 4 : 0;
        text_draw(d, d->font, c.x, c.y + l.disp + 1, COL_TEXT, c.w - mark_w, name);
        if (rec->flipped)
            text_draw(d, d->font, c.x + c.w - mark_w + 4, c.y + l.disp + 1, COL_ACCENT, 0,
                      "\xe2\x86\x94");
    }
    free(rgb);
}

void view_samples_info(const ViewData *vd, const ViewUi *ui, char *buf, size_t n) {
    if (!vd->samples_id) {
        snprintf(buf, n, "waiting for a training step");
        return;
    }
    const AugmentConfig *a = &vd->augment;
    char aug[160] = "";
    size_t u = 0;
    if (a->crop_pad)
        u += (size_t)snprintf(aug + u, sizeof aug - u, "crop pad %d (%s)", a->crop_pad,
                              a->pad_mode == PAD_REFLECT ? "reflect" : "zeros");
    if (a->flip && u < sizeof aug) u += (size_t)snprintf(aug + u, sizeof aug - u, "%sflip", u ? ", " : "");
    if (a->cutout_holes && u < sizeof aug)
        u += (size_t)snprintf(aug + u, sizeof aug - u, "%scutout %dx%d", u ? ", " : "",
                              a->cutout_holes, a->cutout_size);
    if (a->resize && u < sizeof aug)
        u += (size_t)snprintf(aug + u, sizeof aug - u, "%sresize %d", u ? ", " : "", a->resize);
    if (!u) snprintf(aug, sizeof aug, "no augmentation");
    int flipped = 0;
    for (int i = 0; i < vd->sample_count; i++) flipped += vd->sample_records[i].flipped != 0;
    snprintf(buf, n, "%d images of step %ld (epoch %d) \xc2\xb7 %s \xc2\xb7 %d flipped (\xe2\x86\x94) "
             "\xc2\xb7 o original %s \xc2\xb7 m mask+crop %s",
             vd->sample_count, vd->sample_step, vd->sample_epoch + 1, aug, flipped,
             ui->show_original ? "on" : "off", ui->overlay ? "on" : "off");
}
