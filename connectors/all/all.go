// Package all links every built-in connector family into the binary.
package all

import (
	_ "github.com/dangohq/dango/connectors/dltnative" // the original tool's dlt_native form
	_ "github.com/dangohq/dango/connectors/file"      // csv, json, parquet
	_ "github.com/dangohq/dango/connectors/natsrc"    // nats
	_ "github.com/dangohq/dango/connectors/restapi"   // rest_api
	_ "github.com/dangohq/dango/connectors/sheets"    // google_sheets
	_ "github.com/dangohq/dango/connectors/sqldb"     // postgres, mysql
	_ "github.com/dangohq/dango/connectors/stripe"    // stripe
)
