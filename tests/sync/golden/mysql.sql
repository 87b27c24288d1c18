-- mysql: read, Append from the watermark
SELECT `id`, `User Id`, CAST(`select` AS CHAR) AS `select`, `amount`, `created_at` FROM `sales`.`Order "Items"` WHERE `created_at` >= CAST('2026-01-02 03:04:05.000006' AS DATETIME(6));
-- row count
SELECT COUNT(*) FROM `sales`.`Order "Items"` WHERE `created_at` >= CAST('2026-01-02 03:04:05.000006' AS DATETIME(6));
-- columns of a table
SELECT column_name, column_type, is_nullable FROM information_schema.columns WHERE table_name = 'Order "Items"' AND table_schema = 'sales' ORDER BY ordinal_position;
-- Mirror: row checksums computed in the warehouse
SELECT `id`, MD5(REGEXP_REPLACE(CONCAT(COALESCE(CONCAT('v', CAST(`id` AS CHAR)), 'N'), COALESCE(CONCAT('v', CAST(`User Id` AS CHAR)), 'N'), COALESCE(CONCAT('v', CAST(`select` AS CHAR)), 'N'), COALESCE(CONCAT('v', CAST(`amount` AS CHAR)), 'N'), COALESCE(CONCAT('v', CAST(`created_at` AS CHAR)), 'N')), '(N)+$', '')) AS _dl_checksum FROM `sales`.`Order "Items"`;
