/* test_augment.c — augmentation decisions and their application: crop windows (zero and
 * reflect padding, reflect values from PyTorch's F.pad), flip, cutout (exact clipped squares,
 * mask agreement), normalization, bilinear resize against F.interpolate numbers, and the
 * reproducibility of augment_draw. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/augment.h"
#include "check.h"

#define N 32
#define P (N * N)

static uint8_t pattern(int c, int y, int x) {
    return (uint8_t)((c * 71 + y * 13 + x * 7 + ((x * y) % 5) * 17) % 256);
}

static void make_image(uint8_t *img) {
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) img[c * P + y * N + x] = pattern(c, y, x);
}

static const float MEAN[3] = {0.49139968f, 0.48215841f, 0.44653091f};
static const float STD[3] = {0.24703223f, 0.24348513f, 0.26158784f};

static float norm(int c, int v) { return ((float)v / 255.0f - MEAN[c]) / STD[c]; }

static AugmentConfig config(int pad, PadMode mode, int flip, int holes, int size, int resize) {
    AugmentConfig a;
    memset(&a, 0, sizeof a);
    a.crop_pad = pad;
    a.pad_mode = mode;
    a.flip = flip;
    a.cutout_holes = holes;
    a.cutout_size = size;
    a.resize = resize;
    return a;
}

/* Pixel of the padded image (pad p) at padded coordinates, by the definition of each mode:
 * zeros outside, reflect mirrors about the edge pixel without repeating it. */
static int padded(const uint8_t *img, int c, int py, int px, int p, PadMode mode) {
    int y = py - p, x = px - p;
    if (mode == PAD_ZEROS) {
        if (y < 0 || y >= N || x < 0 || x >= N) return 0;
    } else {
        if (y < 0) y = -y;
        if (y >= N) y = 2 * (N - 1) - y;
        if (x < 0) x = -x;
        if (x >= N) x = 2 * (N - 1) - x;
    }
    return img[c * P + y * N + x];
}

static void test_identity(const uint8_t *img) {
    float out[3 * P];
    AugmentRecord rec;
    for (int pad = 0; pad <= 4; pad += 4) {
        AugmentConfig a = config(pad, PAD_REFLECT, 1, 1, 16, 0);
        augment_identity(&a, &rec);
        CHECK_INT(rec.crop_x, pad);
        CHECK_INT(rec.crop_y, pad);
        CHECK_INT(rec.flipped, 0);
        CHECK_INT(rec.holes, 0);
        augment_apply(&a, MEAN, STD, &rec, img, out);
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < P; i++)
                if (out[c * P + i] != norm(c, img[c * P + i])) bad++;
        CHECK_INT(bad, 0);
    }
    AugmentConfig plain = config(0, PAD_ZEROS, 0, 0, 0, 0);
    CHECK_INT(augment_out_side(&plain), 32);
    plain.resize = 224;
    CHECK_INT(augment_out_side(&plain), 224);
}

static void test_crop(const uint8_t *img) {
    float out[3 * P];
    for (int m = 0; m < 2; m++) {
        PadMode mode = m ? PAD_REFLECT : PAD_ZEROS;
        AugmentConfig a = config(4, mode, 0, 0, 0, 0);
        int bad = 0;
        for (int cy = 0; cy <= 8; cy++)
            for (int cx = 0; cx <= 8; cx++) {
                AugmentRecord rec;
                augment_identity(&a, &rec);
                rec.crop_x = cx;
                rec.crop_y = cy;
                augment_apply(&a, MEAN, STD, &rec, img, out);
                for (int c = 0; c < 3; c++)
                    for (int y = 0; y < N; y++)
                        for (int x = 0; x < N; x++)
                            if (out[c * P + y * N + x] != norm(c, padded(img, c, cy + y, cx + x, 4, mode)))
                                bad++;
            }
        CHECK_INT(bad, 0);
        /* Drawn offsets stay inside the padded image and use every offset. */
        int seen[9][9] = {{0}};
        int out_of_range = 0;
        for (int i = 0; i < 3000; i++) {
            AugmentRecord rec;
            augment_draw(&a, 7, 0, i, &rec);
            if (rec.crop_x < 0 || rec.crop_x > 8 || rec.crop_y < 0 || rec.crop_y > 8) out_of_range++;
            else seen[rec.crop_y][rec.crop_x]++;
        }
        CHECK_INT(out_of_range, 0);
        int unused = 0;
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 9; x++) unused += seen[y][x] == 0;
        CHECK_INT(unused, 0);
    }
    /* Padded-image values from PyTorch 1.13: F.pad(img, (4, 4, 4, 4), mode='reflect') of the
     * same pattern, at padded coordinates (c, y, x). */
    static const int torch_reflect[][4] = {
        {0, 0, 0, 97}, {0, 0, 39, 36}, {1, 39, 0, 245}, {2, 39, 39, 238}, {0, 1, 2, 70},
        {1, 3, 20, 213}, {2, 20, 38, 85}, {0, 37, 5, 196}, {1, 4, 4, 71}, {2, 35, 36, 243},
    };
    AugmentConfig a = config(4, PAD_REFLECT, 0, 0, 0, 0);
    for (size_t k = 0; k < sizeof torch_reflect / sizeof torch_reflect[0]; k++) {
        int c = torch_reflect[k][0], py = torch_reflect[k][1], px = torch_reflect[k][2];
        AugmentRecord rec;
        augment_identity(&a, &rec);
        rec.crop_x = px > 31 ? px - 31 : 0;
        rec.crop_y = py > 31 ? py - 31 : 0;
        augment_apply(&a, MEAN, STD, &rec, img, out);
        CHECK(out[c * P + (py - rec.crop_y) * N + (px - rec.crop_x)] == norm(c, torch_reflect[k][3]));
    }
    /* Zero padding normalizes the padded 0 like any other pixel: -mean/std. */
    AugmentConfig z = config(4, PAD_ZEROS, 0, 0, 0, 0);
    AugmentRecord rec;
    augment_identity(&z, &rec);
    rec.crop_x = rec.crop_y = 0;
    augment_apply(&z, MEAN, STD, &rec, img, out);
    CHECK_NEAR(out[0], -MEAN[0] / STD[0], 1e-6, 1e-6);
    CHECK_NEAR(out[2 * P + 3 * N + 31], -MEAN[2] / STD[2], 1e-6, 1e-6);
}

static void test_flip(const uint8_t *img) {
    uint8_t mirrored[3 * P];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) mirrored[c * P + y * N + x] = img[c * P + y * N + N - 1 - x];
    float once[3 * P], twice[3 * P], plain[3 * P];
    for (int pad = 0; pad <= 4; pad += 4) {
        AugmentConfig a = config(pad, PAD_REFLECT, 1, 0, 0, 0);
        AugmentRecord id, fl;
        augment_identity(&a, &id);
        fl = id;
        fl.flipped = 1;
        augment_apply(&a, MEAN, STD, &id, img, plain);
        augment_apply(&a, MEAN, STD, &fl, img, once);
        augment_apply(&a, MEAN, STD, &fl, mirrored, twice);
        /* flip(flip(x)) == x, and flip mirrors every row. */
        CHECK(memcmp(twice, plain, sizeof plain) == 0);
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < N; y++)
                for (int x = 0; x < N; x++)
                    if (once[c * P + y * N + x] != plain[c * P + y * N + N - 1 - x]) bad++;
        CHECK_INT(bad, 0);
    }
    /* Flip comes after the crop: output column x is window column 31 - x. */
    AugmentConfig a = config(4, PAD_ZEROS, 1, 0, 0, 0);
    AugmentRecord rec;
    augment_identity(&a, &rec);
    rec.crop_x = 1;
    rec.crop_y = 6;
    rec.flipped = 1;
    augment_apply(&a, MEAN, STD, &rec, img, once);
    int bad = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++)
                if (once[c * P + y * N + x] != norm(c, padded(img, c, 6 + y, 1 + N - 1 - x, 4, PAD_ZEROS)))
                    bad++;
    CHECK_INT(bad, 0);
}

/* The clipped hole area computed independently: count pixels inside any hole. */
static int in_any_hole(const AugmentRecord *r, int y, int x) {
    for (int h = 0; h < r->holes; h++) {
        int x0 = r->hole_x[h] - r->hole_size / 2, y0 = r->hole_y[h] - r->hole_size / 2;
        if (x >= x0 && x < x0 + r->hole_size && y >= y0 && y < y0 + r->hole_size) return 1;
    }
    return 0;
}

static void test_cutout(const uint8_t *img) {
    static float with[3 * 48 * 48], without[3 * 48 * 48];
    static uint8_t mask[48 * 48];
    for (int S = 32; S <= 48; S += 16) {
        AugmentConfig a = config(4, PAD_REFLECT, 1, 3, 16, S == 32 ? 0 : S);
        AugmentRecord rec;
        augment_identity(&a, &rec);
        rec.crop_x = 2;
        rec.crop_y = 5;
        rec.holes = 3;
        rec.hole_size = 16;
        rec.hole_x[0] = 3;  rec.hole_y[0] = S - 2;    /* clipped at left and bottom */
        rec.hole_x[1] = 20; rec.hole_y[1] = 15;       /* inside */
        rec.hole_x[2] = S - 1; rec.hole_y[2] = 0;     /* clipped at right and top */
        AugmentRecord none = rec;
        none.holes = 0;
        augment_apply(&a, MEAN, STD, &rec, img, with);
        augment_apply(&a, MEAN, STD, &none, img, without);
        augment_cutout_mask(&a, &rec, mask);
        int zero_ok = 0, kept_ok = 0, mask_ok = 0, area = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int hole = in_any_hole(&rec, y, x);
                area += hole;
                mask_ok += mask[y * S + x] == hole;
                for (int c = 0; c < 3; c++) {
                    float v = with[(c * S + y) * S + x];
                    if (hole) zero_ok += v == 0.0f;
                    else kept_ok += v == without[(c * S + y) * S + x] && v != 0.0f;
                }
            }
        CHECK_INT(mask_ok, S * S);
        CHECK_INT(zero_ok, 3 * area);
        CHECK_INT(kept_ok, 3 * (S * S - area));
        /* Clipped areas by hand: hole 0 spans x [-5, 11) y [S-10, S+6) -> 11 x 10. */
        int h0 = 11 * 10, h1 = 16 * 16, h2 = (S - (S - 9)) * 8;
        int overlap = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int n = 0;
                for (int h = 0; h < 3; h++) {
                    AugmentRecord one = rec;
                    one.holes = 1;
                    one.hole_x[0] = rec.hole_x[h];
                    one.hole_y[0] = rec.hole_y[h];
                    n += in_any_hole(&one, y, x);
                }
                overlap += n > 1 ? n - 1 : 0;
            }
        CHECK_INT(area, h0 + h1 + h2 - overlap);
    }
    /* Drawn holes: centres uniform in [0, S), count capped, size recorded. */
    AugmentConfig a = config(0, PAD_ZEROS, 0, 2, 16, 0);
    int bad = 0, lo_x = 99, hi_x = -1;
    for (int i = 0; i < 2000; i++) {
        AugmentRecord rec;
        augment_draw(&a, 3, 1, i, &rec);
        if (rec.holes != 2 || rec.hole_size != 16) bad++;
        for (int h = 0; h < rec.holes; h++) {
            if (rec.hole_x[h] < 0 || rec.hole_x[h] >= 32 || rec.hole_y[h] < 0 || rec.hole_y[h] >= 32) bad++;
            if (rec.hole_x[h] < lo_x) lo_x = rec.hole_x[h];
            if (rec.hole_x[h] > hi_x) hi_x = rec.hole_x[h];
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(lo_x, 0);
    CHECK_INT(hi_x, 31);
    a.cutout_holes = 100;
    AugmentRecord rec;
    augment_draw(&a, 3, 1, 0, &rec);
    CHECK_INT(rec.holes, AUGMENT_MAX_HOLES);
}

static void test_draw(void) {
    AugmentConfig a = config(4, PAD_REFLECT, 1, 1, 16, 0);
    AugmentRecord r1, r2;
    int same_seed_diff = 0, epoch_diff = 0, flips = 0;
    for (int i = 0; i < 1000; i++) {
        augment_draw(&a, 42, 3, i, &r1);
        augment_draw(&a, 42, 3, i, &r2);
        same_seed_diff += memcmp(&r1, &r2, sizeof r1) != 0;
        augment_draw(&a, 42, 4, i, &r2);
        epoch_diff += memcmp(&r1, &r2, sizeof r1) != 0;
        flips += r1.flipped;
    }
    CHECK_INT(same_seed_diff, 0);
    CHECK(epoch_diff > 990);
    CHECK(flips > 430 && flips < 570);
    augment_draw(&a, 43, 3, 0, &r2);
    augment_draw(&a, 42, 3, 0, &r1);
    CHECK(memcmp(&r1, &r2, sizeof r1) != 0);
    /* Nothing enabled: every draw is the identity. */
    AugmentConfig off = config(0, PAD_ZEROS, 0, 0, 0, 0);
    AugmentRecord id;
    augment_identity(&off, &id);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        augment_draw(&off, 42, 1, i, &r1);
        differ += memcmp(&r1, &id, sizeof r1) != 0;
    }
    CHECK_INT(differ, 0);
}

/* F.interpolate(img.float().div(255)[None], size=(S, S), mode='bilinear',
 * align_corners=False) in PyTorch 1.13 on the pattern image: per-channel sums and points. */
typedef struct ResizeRef {
    int side;
    double sums[3];
    struct { int c, y, x; float v; } pts[10];
} ResizeRef;

static const ResizeRef RESIZE_REFS[] = {
    {224, {25268.051420989268, 25120.475018924502, 25071.28292341902},
     {{0, 0, 0, 0.000000000f}, {0, 0, 223, 0.850980401f}, {1, 223, 0, 0.854901969f},
      {2, 223, 223, 0.043137256f}, {0, 112, 74, 0.073789597f}, {1, 74, 112, 0.224489868f},
      {2, 32, 160, 0.526770711f}, {0, 168, 1, 0.197759166f}, {1, 5, 221, 0.159103647f},
      {2, 113, 111, 0.797999322f}}},
    {48, {1160.2676724577323, 1153.4912013616413, 1151.2323755109683},
     {{0, 0, 0, 0.000000000f}, {0, 0, 47, 0.850980461f}, {1, 47, 0, 0.854901969f},
      {2, 47, 47, 0.043137256f}, {0, 24, 16, 0.119281121f}, {1, 16, 24, 0.272222310f},
      {2, 6, 34, 0.532679796f}, {0, 36, 1, 0.352614462f}, {1, 5, 45, 0.275272280f},
      {2, 25, 23, 0.827124298f}}},
    {20, {200.8565127030015, 200.68333699181676, 199.42592468857765},
     {{0, 0, 0, 0.029529415f}, {0, 0, 19, 0.872039258f}, {1, 19, 0, 0.861843169f},
      {2, 19, 19, 0.497607261f}, {0, 10, 6, 0.123490177f}, {1, 6, 10, 0.251333326f},
      {2, 2, 14, 0.534509838f}, {0, 15, 1, 0.431725442f}, {1, 5, 17, 0.619215727f},
      {2, 11, 9, 0.880902052f}}},
};

static void test_resize(const uint8_t *img) {
    static float out[3 * 224 * 224];
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    for (size_t r = 0; r < sizeof RESIZE_REFS / sizeof RESIZE_REFS[0]; r++) {
        const ResizeRef *ref = &RESIZE_REFS[r];
        int S = ref->side;
        AugmentConfig a = config(0, PAD_ZEROS, 0, 0, 0, S);
        CHECK_INT(augment_out_side(&a), S);
        AugmentRecord rec;
        augment_identity(&a, &rec);
        augment_apply(&a, zero, one, &rec, img, out);
        for (int c = 0; c < 3; c++) {
            double sum = 0;
            for (int i = 0; i < S * S; i++) sum += out[c * S * S + i];
            CHECK_NEAR(sum, ref->sums[c], 1e-3, 1e-7);
        }
        for (int k = 0; k < 10; k++)
            CHECK_NEAR(out[(ref->pts[k].c * S + ref->pts[k].y) * S + ref->pts[k].x], ref->pts[k].v,
                       1e-6, 1e-6);
    }
    /* Resize of a normalized image equals normalization of the resized one (the weights sum
     * to 1), so the normalized output is the reference mapped through (v - mean) / std. */
    AugmentConfig a = config(0, PAD_ZEROS, 0, 0, 0, 224);
    AugmentRecord rec;
    augment_identity(&a, &rec);
    augment_apply(&a, MEAN, STD, &rec, img, out);
    const ResizeRef *ref = &RESIZE_REFS[0];
    for (int k = 0; k < 10; k++) {
        int c = ref->pts[k].c;
        CHECK_NEAR(out[(c * 224 + ref->pts[k].y) * 224 + ref->pts[k].x],
                   (ref->pts[k].v - MEAN[c]) / STD[c], 1e-5, 1e-5);
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Throughput, reported (not asserted: sanitizer builds are several times slower). */
static void bench(const uint8_t *img) {
    static float out[3 * 224 * 224];
    AugmentConfig a = config(4, PAD_REFLECT, 1, 1, 16, 0);
    AugmentRecord rec;
    double t0 = now();
    int n = 20000;
    for (int i = 0; i < n; i++) {
        augment_draw(&a, 1, 0, i, &rec);
        augment_apply(&a, MEAN, STD, &rec, img, out);
    }
    double t1 = now();
    a.resize = 224;
    a.cutout_holes = 0;
    int m = 300;
    for (int i = 0; i < m; i++) {
        augment_draw(&a, 1, 0, i, &rec);
        augment_apply(&a, MEAN, STD, &rec, img, out);
    }
    double t2 = now();
    printf("augment_apply: %.0f images/s at 32x32 (crop+flip+cutout), %.0f images/s resized to "
           "224\n", n / (t1 - t0), m / (t2 - t1));
}

int main(void) {
    static uint8_t img[3 * P];
    make_image(img);
    test_identity(img);
    test_crop(img);
    test_flip(img);
    test_cutout(img);
    test_draw();
    test_resize(img);
    bench(img);
    return check_report("test_augment");
}
