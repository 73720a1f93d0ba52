package console

import (
	"embed"
	"io/fs"
)

//go:embed assets
var assets embed.FS

// Assets is the console's files: index.html at the root, then its scripts, style sheet and icon.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // "assets" is embedded above: it cannot be missing
	}
	return sub
}
