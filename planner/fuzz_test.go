package planner

import (
	"context"
	"errors"
	"testing"
)

// fuzzSeeds are DDL texts that reach every path of the lexer and the planner: the offline cases,
// the MariaDB dialect of issue 11, and the shapes that broke before (an 82-digit literal).
func fuzzSeeds() []string {
	seeds := []string{
		"ALTER TABLE users ADD CONSTRAINT chk CHECK (age >= 0)",
		"ALTER TABLE users ADD COLUMN j JSON CHECK (JSON_VALID(j))",
		"ALTER TABLE users ADD COLUMN u UUID, ADD COLUMN i INET6 NOT NULL, ADD COLUMN i4 INET4",
		"ALTER TABLE users ADD COLUMN h INT INVISIBLE, ADD INDEX k (h) IGNORED",
		"ALTER ONLINE TABLE users WAIT 5 ADD COLUMN x INT",
		"ALTER TABLE users NOWAIT ADD COLUMN x INT /*M!100000 , DROP COLUMN bio */ /*!50100 , ADD y INT */",
		"/*M!999999\\- enable the sandbox mode */ ALTER TABLE users ADD x INT",
		"ALTER TABLE users ADD COLUMN x INT, ALGORITHM=INPLACE, LOCK=NONE",
		"ALTER TABLE users ADD CONSTRAINT big CHECK (age < " + digits82 + ")",
		"ALTER TABLE users ADD COLUMN d DECIMAL(65,0) DEFAULT " + digits82,
		"ALTER TABLE users ADD COLUMN p POINT, ADD SPATIAL INDEX sp (p)",
		"ALTER TABLE users MODIFY name VARCHAR(20) CHARACTER SET latin2 COLLATE latin2_general_ci",
		"CREATE OR REPLACE UNIQUE INDEX IF NOT EXISTS k ON users (name(10) DESC) USING BTREE COMMENT 'x' ALGORITHM=NOCOPY LOCK=NONE",
		"DROP INDEX IF EXISTS k_name ON app.users WAIT 1 ALGORITHM = INPLACE",
		"RENAME TABLE users TO people, parent TO mother",
		"ALTER TABLE users COMMENT 'a;b', ADD `we``ird` INT, ADD \"x\" INT",
		"ALTER TABLE users ADD COLUMN (a INT, b INT), ADD INDEX (a, b)",
		"ALTER TABLE users PARTITION BY HASH(id) PARTITIONS 4",
		"ALTER TABLE users DROP PRIMARY KEY, ADD PRIMARY KEY (id, email), MODIFY age BIGINT",
		"ALTER TABLE users CHANGE name full_name VARCHAR(20) AFTER id, RENAME INDEX k_name TO k2",
	}
	for _, c := range offlineCases() {
		seeds = append(seeds, c.ddl)
	}
	return seeds
}

// planNoPanic plans ddl offline on the fixture and fails on a panic, recovered or not: a
// recovered one still is a planner bug.
func planNoPanic(t *testing.T, p *Planner, ddl string) {
	t.Helper()
	_, err := p.Plan(context.Background(), ddl)
	if errors.Is(err, ErrInternal) {
		t.Fatalf("planner panicked on %q: %v", ddl, err)
	}
}

func fuzzPlanner(t testing.TB) *Planner {
	p, err := NewOffline(fixture, Options{Server: "mariadb-10.11", Schema: "app", AllowDropTable: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzPlanOffline: no DDL text makes offline planning panic (issue 11). `go test` runs the seed
// corpus; `make fuzz` mutates it for longer.
func FuzzPlanOffline(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	p := fuzzPlanner(f)
	f.Fuzz(func(t *testing.T, ddl string) { planNoPanic(t, p, ddl) })
}

// FuzzSchemaFile: no schema file makes NewOffline panic.
func FuzzSchemaFile(f *testing.F) {
	f.Add(fixture)
	f.Add(dumpFixture)
	f.Fuzz(func(t *testing.T, defs string) {
		_, err := NewOffline(defs, Options{Server: "mariadb-10.11", Schema: "app"})
		if errors.Is(err, ErrInternal) {
			t.Fatalf("NewOffline panicked: %v", err)
		}
	})
}

// Every prefix of every seed, and every seed with one byte replaced by a character that opens or
// closes something: a deterministic sweep that runs in `make test` in a few seconds.
func TestPlanOfflineNeverPanics(t *testing.T) {
	p := fuzzPlanner(t)
	swaps := []string{"'", "`", "(", ")", ";", "/*!", "\x00"}
	n := 0
	for _, s := range fuzzSeeds() {
		for i := 0; i <= len(s); i++ {
			planNoPanic(t, p, s[:i])
			n++
		}
		for i := 0; i < len(s); i++ {
			for _, w := range swaps {
				planNoPanic(t, p, s[:i]+w+s[i+1:])
				n++
			}
		}
	}
	t.Logf("%d inputs planned without a panic", n)
}
