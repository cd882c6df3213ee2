/* The image op list from YAML (libyaml): a sequence that a job config
 * embeds (under its `ops:` key), or a file of its own whose top level is
 * that sequence or a mapping with `ops:`. Each item is an op name, or a
 * mapping from the name to its parameters. Errors name the file, the line,
 * the op or parameter and the valid choices.
 *
 * Geometry ops (at most once each, before any intensity op; they are fused
 * into one resampling pass whatever their order):
 *   - crop: {size: [256, 256], mode: random | center | foreground, fg_prob: 0.33,
 *            pad: constant | reflect | none, pad_value: 0, label_pad: 0}
 *   - flip: {axes: [y, x], prob: 0.5}          # each listed axis flips on its own
 *   - rot90: {prob: 0.5}                        # 90, 180 or 270 degrees in the (y, x) plane
 *   - permute: {prob: 0.5}                      # another order of the spatial axes
 *   - affine: {prob: 1, rotate: [-15, 15], scale: [0.85, 1.25], isotropic: true,
 *              shear: [-0.1, 0.1], translate: [-5, 5]}
 *   - elastic: {prob: 1, spacing: 32, magnitude: [1, 3]}
 * Intensity ops, per channel, in list order (at most 16; normalize once;
 * its per-image statistics are those of the whole source image, not the crop):
 *   - normalize: {mode: percentile, pmin: 1, pmax: 99.8, clip: false, eps: 1e-20}
 *                {mode: zscore, mean: 0, std: 1, eps: 1e-8}   # mean and std: fixed; omitted: per image
 *                {mode: minmax, eps: 1e-20} | {mode: scale, factor: 1.5259e-5}
 *   - brightness: {prob: 1, range: [-0.1, 0.1]}
 *   - contrast: {prob: 1, range: [0.75, 1.25]}
 *   - gamma: {prob: 1, range: [0.7, 1.5], invert_prob: 0}
 *   - noise: {prob: 1, sigma: [0, 0.1]}
 *   - blur: {prob: 1, sigma: [0.5, 1.0]}
 *   - lowres: {prob: 1, zoom: [0.5, 1.0]}
 * Values shown are the defaults; crop size has no default. A range is
 * [low, high] or one number (fixed). affine.rotate is one range (2D: in
 * plane; 3D: every axis) or three, about z, y and x. spacing is one number
 * or one per axis. The number of axes in crop size, flip axes, rotate or
 * spacing fixes whether the list is for 2D or 3D data. */
#ifndef BFD_OPS_IMG_CONFIG_H
#define BFD_OPS_IMG_CONFIG_H

#include <yaml.h>

#include "img.h"

/* Reads the op sequence `node` of an already loaded document; `file` names
 * the document in messages. */
bfd_status bfd_img_config_parse(yaml_document_t *doc, yaml_node_t *node, const char *file, bfdk_img_spec *spec);

/* A YAML file holding the op sequence, or a mapping whose `ops:` is. */
bfd_status bfd_img_config_load(const char *path, bfdk_img_spec *spec);

#endif
