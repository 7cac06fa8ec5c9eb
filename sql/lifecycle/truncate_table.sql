-- Empties a table before a restore attaches its parts (a restore interrupted half-way starts its tables again).
TRUNCATE TABLE {table:Identifier}
