// Package e2e holds ghostgate's end-to-end tests: the controller (`migrate serve`'s Controller and
// HTTP API), real service processes using graybox, a load client, and gh-ost on the MariaDB
// sandbox, together.
package e2e
