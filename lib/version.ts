/**
 * The version of Roundabout, one constant: compiled into the binary, so nothing is read at
 * run time. Printed by `roundabout --version`, served in `/status` and `roundabout_build_info`.
 *
 * @module
 */

/** This build's version (semantic versioning). */
export const VERSION = "0.9.0";
