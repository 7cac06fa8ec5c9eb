-- Attaches one part copied into the table's detached/ directory. Views do not fire: a restored counter is the
-- backed-up counter, not a recount.
ALTER TABLE {table:Identifier} ATTACH PART {part:String}
