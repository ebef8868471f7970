// The way out when --resume cannot help: a failure caused by the flags (filters, --keep-owner…) repeats on every
// resume, since a resume keeps the first run's options. Every schema-step failure names this too (issue #8.3).
export const START_OVER_HINT =
  'or start over, with other flags if need be: pgshift cleanup --target <same URL> --force, empty the target if any schema was restored (drop and re-create the database), then pgshift copy again';
