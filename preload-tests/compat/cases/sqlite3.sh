DESC="sqlite3: generated database (200k rows), indexes, joins, group by, window functions, JSON, FTS5, VACUUM, integrity_check"
NEEDS="sqlite3 md5sum"
APT="sqlite3"
FAST=1
TIMEOUT=120
PROOF=(sqlite3 :memory: 'select 1')

run() {
	local n=200000; [ "$COMPAT_FAST" = 1 ] && n=60000
	bm sqlite3 db.sqlite <<SQL
PRAGMA journal_mode=WAL;
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, city INTEGER, score REAL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, user INTEGER, amount INTEGER, note TEXT);
WITH RECURSIVE c(i, x) AS (SELECT 1, 12345 UNION ALL SELECT i + 1, (x * 16807) % 2147483647 FROM c WHERE i < $n)
INSERT INTO users SELECT i, 'user' || (x % 7919), x % 97, (x % 10000) / 100.0 FROM c;
WITH RECURSIVE c(i, x) AS (SELECT 1, 777 UNION ALL SELECT i + 1, (x * 16807) % 2147483647 FROM c WHERE i < $n * 2)
INSERT INTO orders SELECT i, 1 + x % $n, x % 5000, printf('note %d %s', i, hex(x)) FROM c;
CREATE INDEX users_city ON users(city, score);
CREATE INDEX orders_user ON orders(user);
SQL
	echo "create rc=$?"
	bm sqlite3 -header -column db.sqlite <<'SQL'
SELECT count(*), sum(amount), max(length(note)) FROM orders;
SELECT city, count(*) AS n, round(avg(score), 4) AS avg FROM users GROUP BY city ORDER BY n DESC, city LIMIT 5;
SELECT u.name, sum(o.amount) AS total FROM users u JOIN orders o ON o.user = u.id GROUP BY u.name ORDER BY total DESC, u.name LIMIT 5;
SELECT id, score, rank() OVER (PARTITION BY city ORDER BY score DESC, id) AS r FROM users WHERE city = 3 ORDER BY r LIMIT 5;
SELECT json_group_array(json_object('id', id, 'n', name)) FROM (SELECT * FROM users ORDER BY id LIMIT 3);
CREATE VIRTUAL TABLE ft USING fts5(note);
INSERT INTO ft SELECT note FROM orders WHERE id % 10 = 0;
SELECT count(*) FROM ft WHERE ft MATCH 'note AND 1*';
DELETE FROM orders WHERE amount < 2500;
VACUUM;
PRAGMA integrity_check;
SELECT count(*) FROM orders;
SQL
	echo "query rc=$?"
	bm sqlite3 db.sqlite .dump | md5sum
	bm sqlite3 db.sqlite 'SELECT * FROM no_such_table' 2>&1; echo "error rc=$?"
}
