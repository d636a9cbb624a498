module gofmtcheck

go 1.26
