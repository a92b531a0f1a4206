/* shapes.h - the captioned shape world: vocabulary, clip specification, renderer.
 * Shared by the dataset generator (src/data/), the trainer and the prompt-adherence
 * judge (src/score/). Caption grammar:
 *   a [small|big] <colour> <shape> <motion> on a <colour> background[, getting darker|brighter]
 * Colours are sRGB 8-bit; the background is never the object's colour. */
#ifndef VIDGEN_SHAPES_H
#define VIDGEN_SHAPES_H
#include <stdint.h>
#include "vidgen/rng.h"
#include "vidgen/status.h"

enum { VG_OBJ_COLOURS = 9, VG_BG_COLOURS = 8, VG_SHAPES = 3, VG_SIZES = 2, VG_MOTIONS = 6, VG_LIGHTS = 3 };

typedef struct { const char *name; uint8_t rgb[3]; } vg_colour;
/* red orange yellow green cyan blue purple pink white */
extern const vg_colour vg_obj_colours[VG_OBJ_COLOURS];
/* black white gray blue green red yellow purple (names as in captions) */
extern const vg_colour vg_bg_colours[VG_BG_COLOURS];
extern const char *const vg_shape_names[VG_SHAPES];   /* ball square triangle */
extern const char *const vg_size_names[VG_SIZES];     /* small big */
extern const char *const vg_motion_names[VG_MOTIONS]; /* "moving left" "moving right" "moving up" "moving down" "bouncing" "standing still" */
extern const char *const vg_light_names[VG_LIGHTS];   /* "" "getting darker" "getting brighter" */

typedef enum { VG_MOT_LEFT, VG_MOT_RIGHT, VG_MOT_UP, VG_MOT_DOWN, VG_MOT_BOUNCE, VG_MOT_STILL } vg_motion;
typedef enum { VG_LIGHT_NONE, VG_LIGHT_DARKER, VG_LIGHT_BRIGHTER } vg_light;

typedef struct {
    int colour;      /* index into vg_obj_colours */
    int bg;          /* index into vg_bg_colours; its rgb differs from the object's */
    int shape;       /* 0 ball, 1 square, 2 triangle */
    int size;        /* 0 small (about 1/5 of the frame across), 1 big (about 1/3) */
    int motion;      /* vg_motion */
    int light;       /* vg_light */
    /* continuous parameters (randomised; not in the caption) */
    float x0, y0;    /* start centre, in units of the frame size (0..1) */
    float speed;     /* frame widths per frame for linear motion */
    float phase;     /* bouncing phase */
} vg_shape_spec;

#endif
