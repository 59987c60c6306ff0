-- wrk script: GET PATTERN with {id} replaced by a random line of IDS_FILE (seeded, so runs repeat).
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local pattern = os.getenv("PATTERN")
math.randomseed(tonumber(os.getenv("SEED") or "42"))
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", (string.gsub(pattern, "{id}", id)))
end
