package planner

import "github.com/pingcap/tidb/pkg/parser/charset"

// The TiDB parser validates character set and collation names against the sets TiDB supports
// (utf8, utf8mb4, ascii, latin1, binary, gbk, gb18030) and refuses the rest with "Unknown character
// set: 'latin2'", although it knows every MySQL set and collation by name. MariaDB serves all of
// them, and SHOW CREATE TABLE of a latin2, cp1250 or utf16 table must still be modelled (issue 11).
// It also refuses MariaDB's UCA 14.0.0 collations, the utf8mb4 default from MariaDB 11.x on
// ("COLLATE=utf8mb4_uca1400_ai_ci"). Both are registered once, at start-up, before any parse: the
// planner only needs the names to parse, never their encoding or sort order.
func init() {
	id := 4000 // private IDs, clear of MySQL's and TiDB's; the planner never looks collations up by ID
	for _, cs := range []string{"utf8mb4", "utf8mb3"} {
		for _, pad := range []string{"", "nopad_"} {
			for _, sens := range []string{"ai_ci", "ai_cs", "as_ci", "as_cs"} {
				name := cs + "_uca1400_" + pad + sens
				if _, err := charset.GetCollationByName(name); err == nil {
					continue
				}
				charset.AddCollation(&charset.Collation{ID: id, CharsetName: cs, Name: name, Sortlen: 1, PadAttribute: charset.PadSpace})
				id++
			}
		}
	}
	// SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS on MariaDB 10.11. A set the
	// parser knows but does not support is returned with an error and its collations filled in.
	for _, name := range []string{"armscii8", "big5", "cp1250", "cp1251", "cp1256", "cp1257", "cp850",
		"cp852", "cp866", "cp932", "dec8", "eucjpms", "euckr", "gb2312", "geostd8", "greek", "hebrew",
		"hp8", "keybcs2", "koi8r", "koi8u", "latin2", "latin5", "latin7", "macce", "macroman", "sjis",
		"swe7", "tis620", "ucs2", "ujis", "utf16", "utf16le", "utf32"} {
		if cs, err := charset.GetCharsetInfo(name); err != nil && cs != nil {
			charset.AddCharset(cs)
		}
	}
}
