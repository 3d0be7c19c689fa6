/*
 * config_doc.h - hark.conf(5), written from the settings table.
 *
 * The manual page of the configuration file is generated, never written by
 * hand, so a setting added to config_table.c is documented the moment it
 * exists and a changed default cannot disagree with its documentation.
 */
#ifndef HARK_CONFIG_DOC_H
#define HARK_CONFIG_DOC_H

#include <stdio.h>

/* config_doc_man - write hark.conf(5) in man(7) macros to out; 0, or -1 when
 * writing failed. */
int config_doc_man(FILE *out);

#endif
