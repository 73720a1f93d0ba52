// Package uafile reads the real browser user agents with their traffic weights that the benchmark tools draw
// from: the weight<TAB>device_category<TAB>platform<TAB>language<TAB>user_agent format of
// ../shared/ua/real-user-agents.tsv, with a few built-in browsers when the file is absent.
package uafile
