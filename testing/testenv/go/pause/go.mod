module vendorfetch.local/testenv/pause

go 1.24
