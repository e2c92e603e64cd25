-- Run after the bulk load (see schema.sql). Each statement is separated by a line holding
-- only "-- ;" so the seed can run them on parallel connections; a plain semicolon would
-- also split the DO block in schema.sql, which is why the marker is explicit.

ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
-- ;
CREATE INDEX users_name_idx ON users (name);
-- ;
ALTER TABLE products ADD CONSTRAINT products_pkey PRIMARY KEY (id);
-- ;
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
-- ;
-- A user's recent orders: an index range scan in the endpoint's exact order, no sort.
CREATE INDEX orders_user_recent_idx ON orders (user_id, created_at DESC, id DESC);
-- ;
ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, product_id);
-- ;
ALTER TABLE world ADD CONSTRAINT world_pkey PRIMARY KEY (id);
-- ;
ALTER TABLE fortune ADD CONSTRAINT fortune_pkey PRIMARY KEY (id);
