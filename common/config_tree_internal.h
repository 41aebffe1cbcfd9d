/* Internal to the config module: the parser entry shared by config_tree.c and config.c. */
#ifndef DPKIT_COMMON_CONFIG_TREE_INTERNAL_H
#define DPKIT_COMMON_CONFIG_TREE_INTERNAL_H

#include "common/config.h"

#include <stdio.h>

/* Parses from file (or text when file is NULL); root_path prefixes every node's path, so the
 * value of an override such as --set model.layers=[...] reports "model.layers[0].kind". */
int config_tree_parse(FILE *file, const char *text, const char *source_name, const char *root_path,
                      config_node **root, dpkit_error *err);

/* Message prefixed with the node's place: "source:line: path: message" (no line when 0). */
int config_node_error(const config_node *node, dpkit_error *err, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#endif
