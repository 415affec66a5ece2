package native

import (
	"errors"
	"fmt"
	"strings"
)

// Algorithm is the ALGORITHM clause of a native statement.
type Algorithm string

// The algorithms the native engine runs. COPY and DEFAULT are refused: COPY blocks writes for
// the whole rebuild, and DEFAULT lets the server silently choose COPY.
const (
	AlgorithmInstant Algorithm = "INSTANT"
	AlgorithmNoCopy  Algorithm = "NOCOPY" // MariaDB: in place, without rebuilding the clustered index
	AlgorithmInplace Algorithm = "INPLACE"
)

// ErrNoAlgorithm means the statement has no explicit ALGORITHM clause the engine accepts.
var ErrNoAlgorithm = errors.New("native: statement needs an explicit ALGORITHM=INSTANT, NOCOPY or INPLACE clause")

// ErrStatement means the statement is not one schema change of one table.
var ErrStatement = errors.New("native: not a single ALTER TABLE, CREATE INDEX, DROP INDEX, RENAME TABLE, DROP TABLE or TRUNCATE TABLE statement")

// statement is what the engine needs to know about the DDL it runs.
type statement struct {
	Schema, Table string // Schema empty: the connection's default database
	Algorithm     Algorithm
}

// parseStatement reads the target table and the ALGORITHM clause. It does not validate the rest:
// the server does. The TiDB parser the planner uses does not know MariaDB's ALGORITHM=NOCOPY, so
// this is a small tokenizer that only has to get comments, quoting and statement boundaries
// right, the places where a naive text search would be fooled ("COMMENT 'ALGORITHM=INSTANT'").
func parseStatement(sql string) (statement, error) {
	toks, err := tokenize(sql)
	if err != nil {
		return statement{}, err
	}
	var st statement
	var rest []token
	if t, ok := tableStatement(toks); ok {
		// RENAME / DROP / TRUNCATE TABLE take no ALGORITHM clause: they change only the data
		// dictionary (TRUNCATE swaps in a new empty tablespace), so they run like INSTANT, under
		// the same short lock_wait_timeout and retries.
		st.Schema, st.Table, _ = tableName(t)
		if st.Table == "" {
			return statement{}, fmt.Errorf("%w: no table name in %q", ErrStatement, abbreviate(sql))
		}
		st.Algorithm = AlgorithmInstant
		return st, nil
	}
	switch {
	case matchWords(toks, "ALTER", "TABLE"), matchWords(toks, "ALTER", "ONLINE", "TABLE"), matchWords(toks, "ALTER", "IGNORE", "TABLE"):
		rest = toks[indexOfWord(toks, "TABLE")+1:]
	case len(toks) > 0 && toks[0].word("CREATE") || len(toks) > 0 && toks[0].word("DROP"):
		i := indexOfWord(toks, "INDEX")
		j := indexOfWord(toks, "ON")
		if i < 0 || j < i || j > i+6 {
			return statement{}, fmt.Errorf("%w: %q", ErrStatement, abbreviate(sql))
		}
		rest = toks[j+1:]
	default:
		return statement{}, fmt.Errorf("%w: %q", ErrStatement, abbreviate(sql))
	}
	st.Schema, st.Table, rest = tableName(rest)
	if st.Table == "" {
		return statement{}, fmt.Errorf("%w: no table name in %q", ErrStatement, abbreviate(sql))
	}
	st.Algorithm, err = algorithm(rest)
	if err != nil {
		return statement{}, fmt.Errorf("%w: %q", err, abbreviate(sql))
	}
	return st, nil
}

// tableStatement recognises RENAME TABLE, DROP TABLE [IF EXISTS] and TRUNCATE [TABLE] and returns
// the tokens from the (first) table name on.
func tableStatement(toks []token) ([]token, bool) {
	switch {
	case matchWords(toks, "RENAME", "TABLE"):
		return toks[2:], true
	case matchWords(toks, "DROP", "TABLE", "IF", "EXISTS"):
		return toks[4:], true
	case matchWords(toks, "DROP", "TABLE"), matchWords(toks, "TRUNCATE", "TABLE"):
		return toks[2:], true
	case matchWords(toks, "TRUNCATE"):
		return toks[1:], true
	}
	return nil, false
}

// algorithm finds the ALGORITHM [=] value clause outside parentheses.
func algorithm(toks []token) (Algorithm, error) {
	var found Algorithm
	depth := 0
	for i, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		}
		if depth != 0 || !t.word("ALGORITHM") {
			continue
		}
		j := i + 1
		if j < len(toks) && toks[j].punct("=") {
			j++
		}
		if j >= len(toks) || toks[j].kind != kindWord {
			continue
		}
		a := Algorithm(strings.ToUpper(toks[j].text))
		switch a {
		case AlgorithmInstant, AlgorithmNoCopy, AlgorithmInplace:
		case "COPY", "DEFAULT":
			return "", fmt.Errorf("%w (ALGORITHM=%s can block writes for the whole rebuild)", ErrNoAlgorithm, a)
		default:
			continue
		}
		if found != "" && found != a {
			return "", fmt.Errorf("%w (conflicting ALGORITHM=%s and ALGORITHM=%s)", ErrNoAlgorithm, found, a)
		}
		found = a
	}
	if found == "" {
		return "", ErrNoAlgorithm
	}
	return found, nil
}

// tableName reads `schema`.`table` or table at the start of toks.
func tableName(toks []token) (schema, table string, rest []token) {
	if len(toks) == 0 || !toks[0].ident() {
		return "", "", toks
	}
	if len(toks) >= 3 && toks[1].punct(".") && toks[2].ident() {
		return toks[0].text, toks[2].text, toks[3:]
	}
	return "", toks[0].text, toks[1:]
}

func matchWords(toks []token, words ...string) bool {
	if len(toks) < len(words) {
		return false
	}
	for i, w := range words {
		if !toks[i].word(w) {
			return false
		}
	}
	return true
}

func indexOfWord(toks []token, w string) int {
	for i, t := range toks {
		if t.word(w) {
			return i
		}
	}
	return -1
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}
