package loadgen

import (
	"fmt"
	"math"
)

// seqKey is a BIGINT key equal to the sequence number.
func seqKey(name string) KeyColumn {
	return KeyColumn{Name: name, Type: "BIGINT NOT NULL", Of: func(n int64) any { return n }, Seed: "seq"}
}

// Simple is a sysbench-like table: id BIGINT primary key, k INT (the column the benchmarks
// widen to BIGINT; its values fit both), c VARCHAR(120), pad CHAR(60).
func Simple(table string) Spec {
	return Spec{
		Table: table,
		Key:   []KeyColumn{seqKey("id")},
		Columns: []Column{
			{Name: "k", Type: "INT NOT NULL DEFAULT 0", Gen: Int(math.MinInt32, math.MaxInt32), Seed: "seq % 100000"},
			{Name: "c", Type: "VARCHAR(120) NOT NULL DEFAULT ''", Gen: String(ASCII, 120), Seed: "MD5(seq)"},
			{Name: "pad", Type: "CHAR(60) NOT NULL DEFAULT ''", Gen: String(ASCII, 60), Seed: "SHA1(seq)"},
		},
		Options: "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	}
}

// Composite has a two-column primary key (tenant INT UNSIGNED, code VARCHAR(32)) and a few
// columns: tenant = n mod 16, code = "c-" + n div 16.
func Composite(table string) Spec {
	return Spec{
		Table: table,
		Key: []KeyColumn{
			{Name: "tenant", Type: "INT UNSIGNED NOT NULL", Of: func(n int64) any { return n % 16 }, Seed: "seq % 16"},
			{Name: "code", Type: "VARCHAR(32) NOT NULL", Of: func(n int64) any { return fmt.Sprintf("c-%d", n/16) },
				Seed: "CONCAT('c-', seq DIV 16)"},
		},
		Columns: []Column{
			{Name: "qty", Type: "INT NOT NULL DEFAULT 0", Gen: Int(-1000, 1000), Seed: "seq % 1000"},
			{Name: "label", Type: "VARCHAR(64) NULL", Gen: Nullable(String(UTF8MB4, 20))},
			{Name: "at", Type: "DATETIME(6) NULL", Gen: Nullable(DateTime())},
		},
		Options: "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	}
}

// ManyTypes has one column of each kind a migration must carry over intact: integers signed and
// unsigned of every width at their limits, DECIMAL, FLOAT, DOUBLE, DATE, TIME(6), DATETIME(6),
// TIMESTAMP(6), YEAR, CHAR, VARCHAR and TEXT in utf8mb4 (emoji) and latin1, BINARY, VARBINARY,
// BLOB, JSON, ENUM, SET and BIT, most of them nullable.
func ManyTypes(table string) Spec {
	return Spec{
		Table: table,
		Key:   []KeyColumn{seqKey("id")},
		Columns: []Column{
			{Name: "i8", Type: "TINYINT NULL", Gen: Nullable(Int(math.MinInt8, math.MaxInt8)), Seed: "seq % 128"},
			{Name: "u8", Type: "TINYINT UNSIGNED NULL", Gen: Nullable(Uint(math.MaxUint8))},
			{Name: "i16", Type: "SMALLINT NULL", Gen: Nullable(Int(math.MinInt16, math.MaxInt16))},
			{Name: "u16", Type: "SMALLINT UNSIGNED NULL", Gen: Nullable(Uint(math.MaxUint16))},
			{Name: "i24", Type: "MEDIUMINT NULL", Gen: Nullable(Int(-1<<23, 1<<23-1))},
			{Name: "u24", Type: "MEDIUMINT UNSIGNED NULL", Gen: Nullable(Uint(1<<24 - 1))},
			{Name: "i32", Type: "INT NULL", Gen: Nullable(Int(math.MinInt32, math.MaxInt32)), Seed: "seq"},
			{Name: "u32", Type: "INT UNSIGNED NULL", Gen: Nullable(Uint(math.MaxUint32))},
			{Name: "i64", Type: "BIGINT NULL", Gen: Nullable(Int(math.MinInt64, math.MaxInt64))},
			{Name: "u64", Type: "BIGINT UNSIGNED NULL", Gen: Nullable(Uint(math.MaxUint64))},
			{Name: "dec", Type: "DECIMAL(20,6) NULL", Gen: Nullable(Decimal(20, 6))},
			{Name: "flt", Type: "FLOAT NULL", Gen: Nullable(Float())},
			{Name: "dbl", Type: "DOUBLE NULL", Gen: Nullable(Double())},
			{Name: "d", Type: "DATE NULL", Gen: Nullable(Date())},
			{Name: "t", Type: "TIME(6) NULL", Gen: Nullable(Time())},
			{Name: "dt", Type: "DATETIME(6) NULL", Gen: Nullable(DateTime())},
			{Name: "ts", Type: "TIMESTAMP(6) NULL DEFAULT NULL", Gen: Nullable(Timestamp())},
			{Name: "y", Type: "YEAR NULL", Gen: Nullable(Year())},
			{Name: "ch", Type: "CHAR(10) NULL", Gen: Nullable(String(UTF8MB4, 10))},
			{Name: "vc", Type: "VARCHAR(255) NULL", Gen: Nullable(String(UTF8MB4, 60)), Seed: "CONCAT('row ', seq, ' 😀')"},
			{Name: "txt", Type: "TEXT NULL", Gen: Nullable(String(UTF8MB4, 400))},
			{Name: "l1", Type: "VARCHAR(100) CHARACTER SET latin1 NULL", Gen: Nullable(String(Latin1, 40))},
			{Name: "l1t", Type: "TEXT CHARACTER SET latin1 NULL", Gen: Nullable(String(Latin1, 200))},
			{Name: "bin", Type: "BINARY(16) NULL", Gen: Nullable(Bytes(0, 16))},
			{Name: "vbin", Type: "VARBINARY(64) NULL", Gen: Nullable(Bytes(0, 64))},
			{Name: "blb", Type: "BLOB NULL", Gen: Nullable(Bytes(0, 600))},
			{Name: "js", Type: "JSON NULL", Gen: Nullable(JSON())},
			{Name: "en", Type: "ENUM('small','medium','large') NULL", Gen: Nullable(OneOf("small", "medium", "large"))},
			{Name: "st", Type: "SET('red','green','blue') NULL", Gen: Nullable(SetOf("red", "green", "blue"))},
			{Name: "bt", Type: "BIT(10) NULL", Gen: Nullable(Bits(10))},
		},
		Options: "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	}
}
