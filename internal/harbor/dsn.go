package harbor

import (
	"fmt"
	"strings"
)

// CheckDatabasePassword says why Harbor cannot log in to PostgreSQL with
// a password, or nil. Harbor writes its connection string unquoted,
// "host=%s port=%s user=%s password=%s dbname=%s ..." (goharbor/harbor
// v2.15.1 src/common/dao/pgsql.go L95), and pgx reads it as key=value
// pairs (jackc/pgconn v1.14.3 config.go parseDSNSettings): a leading
// quote starts a quoted value that runs into the next keys, whitespace
// ends the value, and a backslash takes the next character into it as it
// is, except that "\\" and "\'" then lose theirs and a last one escapes
// the space after it. Any of them leaves Harbor with another password.
// what names it in the message; the value is never shown.
func CheckDatabasePassword(what, value string) error {
	const why = "which Harbor's unquoted connection string reads otherwise"
	if strings.HasPrefix(value, "'") {
		return fmt.Errorf("%s starts with a quote, %s", what, why)
	}
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case strings.IndexByte(" \t\n\v\f\r", c) >= 0:
			return fmt.Errorf("%s holds whitespace, %s", what, why)
		case c == '\\':
			if i+1 == len(value) || value[i+1] == '\\' || value[i+1] == '\'' {
				return fmt.Errorf("%s holds a backslash before another, before a quote or at its end, %s", what, why)
			}
			i++ // pgx keeps the escaped character, whitespace too
		}
	}
	return nil
}
