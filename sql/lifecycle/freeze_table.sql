-- Hard links of the table's active parts under shadow/<name>/, the parts as of this instant (nothing is copied).
-- The engine takes the name only as a literal: backup.ts generates it ([a-z0-9_] only) and checks it before use.
ALTER TABLE {table:Identifier} FREEZE WITH NAME '{{freeze_name}}'
