-- bigquery: read, Append from the watermark
SELECT `id`, `User Id`, TO_JSON_STRING(`select`) AS `select`, `amount`, `created_at` FROM `sales`.`Order "Items"` WHERE `created_at` >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMP);
-- row count
SELECT COUNT(*) FROM `sales`.`Order "Items"` WHERE `created_at` >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMP);
-- columns of a table
SELECT column_name, data_type, is_nullable FROM `analytics`.INFORMATION_SCHEMA.COLUMNS WHERE table_name = 'Order "Items"' ORDER BY ordinal_position;
-- Mirror: row checksums computed in the warehouse
SELECT `id`, TO_HEX(MD5(REGEXP_REPLACE(COALESCE('\x1fv' || CAST(`id` AS STRING), '\x1fN') || COALESCE('\x1fv' || CAST(`User Id` AS STRING), '\x1fN') || COALESCE('\x1fv' || CAST(`select` AS STRING), '\x1fN') || COALESCE('\x1fv' || CAST(`amount` AS STRING), '\x1fN') || COALESCE('\x1fv' || CAST(`created_at` AS STRING), '\x1fN'), '(\x1fN)+$', ''))) AS _dl_checksum FROM `sales`.`Order "Items"`;
