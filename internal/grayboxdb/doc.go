// Package grayboxdb holds graybox's tests that need a database: graybox's versioned tables
// (Table[T]) against the MariaDB sandbox. They live in ghostgate's module, which has the driver
// and the sandbox, because graybox is a module of its own that depends on the standard library
// only (issue 10). The package has no code; its tests run with `go test ./...` from the root.
package grayboxdb
