package server

// RouteRoles lists the API's routes and who may call each ("anyone", "device",
// "admin"; "fallback" for the 404 and 405 answers that hold no data), for the role
// matrix test.
func RouteRoles(s *Server) map[string]string {
	_, table := s.newRouter()
	out := make(map[string]string, len(table))
	for _, r := range table {
		who := r.who.String()
		if r.fallback {
			who = "fallback"
		}
		out[r.pattern] = who
	}
	return out
}
