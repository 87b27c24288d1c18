-- sqlite: read, Append from the watermark
SELECT "id", "User Id", "select", "amount", "created_at" FROM "Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMP);
-- row count
SELECT COUNT(*) FROM "Order ""Items""" WHERE "created_at" >= CAST('2026-01-02 03:04:05.000006' AS TIMESTAMP);
-- columns of a table
SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'Order "Items"' AND table_schema = 'sales' ORDER BY ordinal_position;
-- Mirror: row checksums computed in the warehouse
SELECT "id", MD5(REGEXP_REPLACE(COALESCE('v' || CAST("id" AS TEXT), 'N') || COALESCE('v' || CAST("User Id" AS TEXT), 'N') || COALESCE('v' || CAST("select" AS TEXT), 'N') || COALESCE('v' || CAST("amount" AS TEXT), 'N') || COALESCE('v' || CAST("created_at" AS TEXT), 'N'), '(N)+$', '')) AS _dl_checksum FROM "Order ""Items""";
