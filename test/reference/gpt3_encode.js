// Encodes each string of a JSON array with OpenAI's GPT-2 encoder as shipped
// by the npm package gpt-3-encoder; prints a JSON array of id arrays.
//   node gpt3_encode.js PACKAGE_DIR STRINGS.json
const path = require("path");
const fs = require("fs");
const { encode } = require(path.resolve(process.argv[2]));
const strings = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
process.stdout.write(JSON.stringify(strings.map((s) => encode(s))) + "\n");
