import { z } from 'zod';
import { defineQuery } from './define.js';

/** Target tables of the materialized views reading from `tables`. */
export const viewTargets = defineQuery({
  sql: 'storage/view_targets',
  params: z.object({ tables: z.array(z.string()) }),
  row: z.object({ target: z.string() }),
});

/** Engine and full engine text (with its SETTINGS) of `tables`. */
export const tableEngines = defineQuery({
  sql: 'storage/table_engines',
  params: z.object({ tables: z.array(z.string()) }),
  row: z.object({ name: z.string(), engine: z.string(), engineFull: z.string() }),
});
