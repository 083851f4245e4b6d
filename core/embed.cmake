# cmake -DIN=file -DOUT=file.c -P embed.cmake: write IN as the C array config_embedded_default.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from etc/deploywatch.yml by core/embed.cmake. Do not edit. */\n"
                  "const char config_embedded_default[] = {${body} 0x00};\n")
