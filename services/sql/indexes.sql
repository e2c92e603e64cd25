-- Run after the bulk load (see schema.sql): one statement per semicolon, independent of
-- each other, so the seed builds them on parallel connections. The largest come first so
-- the two builders finish together.

ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, product_id);
CREATE INDEX users_name_idx ON users (name);
-- A user's recent orders: an index range scan in the endpoint's exact order, no sort.
CREATE INDEX orders_user_recent_idx ON orders (user_id, created_at DESC, id DESC);
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE products ADD CONSTRAINT products_pkey PRIMARY KEY (id);
ALTER TABLE world ADD CONSTRAINT world_pkey PRIMARY KEY (id);
ALTER TABLE fortune ADD CONSTRAINT fortune_pkey PRIMARY KEY (id);
