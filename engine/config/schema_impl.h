/* What the schema files share (schema.c: loading and the cache;
 * schema_validate.c: validation). Internal. */
#ifndef RP_ENGINE_SCHEMA_IMPL_H
#define RP_ENGINE_SCHEMA_IMPL_H

/* Does `text` match the POSIX extended regex `pattern` (compiled once,
 * cached until rp_schema_cache_clear)? 1 match, 0 no match, -1 invalid
 * pattern or out of memory. */
int schema_pattern_match(const char *pattern, const char *text);

#endif
