package native

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatement(t *testing.T) {
	tests := []struct {
		sql     string
		want    statement
		wantErr error
	}{
		{sql: "ALTER TABLE `shop`.`orders` ADD COLUMN `note` TEXT, ALGORITHM=INSTANT, LOCK=NONE",
			want: statement{Schema: "shop", Table: "orders", Algorithm: AlgorithmInstant}},
		{sql: "alter table t add index i (c), algorithm = nocopy, lock = none;",
			want: statement{Table: "t", Algorithm: AlgorithmNoCopy}},
		{sql: "ALTER ONLINE TABLE `we``ird` ENGINE=InnoDB, ALGORITHM INPLACE, LOCK=NONE",
			want: statement{Table: "we`ird", Algorithm: AlgorithmInplace}},
		{sql: "/* planned */ ALTER TABLE t MODIFY c INT NULL -- why\n, ALGORITHM=INPLACE",
			want: statement{Table: "t", Algorithm: AlgorithmInplace}},
		{sql: "CREATE INDEX i ON db.t (c) ALGORITHM=NOCOPY LOCK=NONE",
			want: statement{Schema: "db", Table: "t", Algorithm: AlgorithmNoCopy}},
		{sql: "CREATE UNIQUE INDEX IF NOT EXISTS i ON t (c) ALGORITHM=INPLACE",
			want: statement{Table: "t", Algorithm: AlgorithmInplace}},
		{sql: "DROP INDEX i ON t ALGORITHM=INSTANT", want: statement{Table: "t", Algorithm: AlgorithmInstant}},
		// the planner's statements since issue 11: the user's clauses as written, WAIT/NOWAIT kept
		{sql: "ALTER TABLE `shop`.`orders` WAIT 5 ADD COLUMN note TEXT, ALGORITHM=INSTANT, LOCK=NONE",
			want: statement{Schema: "shop", Table: "orders", Algorithm: AlgorithmInstant}},
		{sql: "ALTER TABLE `shop`.`orders` NOWAIT ADD COLUMN j JSON CHECK (JSON_VALID(j)), ALGORITHM=INSTANT, LOCK=NONE",
			want: statement{Schema: "shop", Table: "orders", Algorithm: AlgorithmInstant}},
		{sql: "ALTER TABLE `shop`.`orders` ADD COLUMN c VARCHAR(10) COMMENT 'ALGORITHM=COPY', ALGORITHM=NOCOPY, LOCK=NONE",
			want: statement{Schema: "shop", Table: "orders", Algorithm: AlgorithmNoCopy}},
		{sql: "ALTER TABLE t ADD COLUMN c INT", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t ADD COLUMN c INT COMMENT 'ALGORITHM=INSTANT'", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t ADD COLUMN c INT COMMENT 'it''s ALGORITHM=INSTANT'", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t ADD COLUMN c INT /* ALGORITHM=INSTANT */", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t ADD COLUMN `algorithm` INT", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t MODIFY c BIGINT, ALGORITHM=COPY", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t MODIFY c BIGINT, ALGORITHM=DEFAULT", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t ADD c INT, ALGORITHM=INSTANT, ALGORITHM=INPLACE", wantErr: ErrNoAlgorithm},
		{sql: "ALTER TABLE t ADD c INT, ALGORITHM=INSTANT; DROP TABLE t", wantErr: ErrStatement},
		{sql: "ALTER TABLE t ADD c INT /*!50000 , ALGORITHM=COPY */, ALGORITHM=INSTANT", wantErr: ErrStatement},
		{sql: "ALTER TABLE t ADD c INT COMMENT 'x, ALGORITHM=INSTANT", wantErr: ErrStatement},
		{sql: "DROP TABLE `shop`.`t`", want: statement{Schema: "shop", Table: "t", Algorithm: AlgorithmInstant}},
		{sql: "DROP TABLE IF EXISTS t", want: statement{Table: "t", Algorithm: AlgorithmInstant}},
		{sql: "RENAME TABLE `a` TO `b`", want: statement{Table: "a", Algorithm: AlgorithmInstant}},
		{sql: "TRUNCATE TABLE t", want: statement{Table: "t", Algorithm: AlgorithmInstant}},
		{sql: "TRUNCATE t", want: statement{Table: "t", Algorithm: AlgorithmInstant}},
		{sql: "DROP TABLE t; DROP TABLE u", wantErr: ErrStatement},
		{sql: "DROP DATABASE t", wantErr: ErrStatement},
		{sql: "UPDATE t SET a = 1, ALGORITHM=INSTANT", wantErr: ErrStatement},
		{sql: "", wantErr: ErrStatement},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			got, err := parseStatement(tt.sql)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// A bad Config is an error from Run, before any statement is read or sent.
func TestRunRefusesInvalidConfig(t *testing.T) {
	_, err := New(nil, Config{LockWaitTimeout: 1500 * time.Millisecond}, nil).Run(context.Background(), "ALTER TABLE t ADD c INT, ALGORITHM=INSTANT", nil)
	require.ErrorContains(t, err, "lock wait timeout")
}
